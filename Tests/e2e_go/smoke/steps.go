package main

import (
	"fmt"
	"math/rand"
	"sort"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"vireo-e2e/pb/commonpb"
	"vireo-e2e/pb/milvuspb"
	"vireo-e2e/pb/schemapb"
)

func note(format string, args ...interface{}) { fmt.Printf("      "+format+"\n", args...) }

func (s *smoke) start() error {
	srv, err := startServer(s.bin, s.dataDir)
	if err != nil {
		return err
	}
	s.srv = srv
	s.wire, s.idleW = &wireStats{}, &wireStats{}
	if s.conn, err = grpc.Dial(srv.addr, dialOpts(s.wire)...); err != nil {
		return err
	}
	if s.idle, err = grpc.Dial(srv.addr, dialOpts(s.idleW)...); err != nil {
		return err
	}
	s.cli, s.idleCli = milvuspb.NewMilvusServiceClient(s.conn), milvuspb.NewMilvusServiceClient(s.idle)
	note("listening on %s", srv.addr)
	return nil
}

func (s *smoke) connect() error {
	ctx, cancel := ctxT(30 * time.Second)
	defer cancel()
	info := &commonpb.ClientInfo{SdkType: "Golang", SdkVersion: "vireo-go-smoke", LocalTime: time.Now().Format(time.RFC3339)}
	for _, c := range []milvuspb.MilvusServiceClient{s.cli, s.idleCli} {
		r, err := c.Connect(ctx, &milvuspb.ConnectRequest{ClientInfo: info})
		if err := ok("Connect", r.GetStatus(), err); err != nil {
			return err
		}
		if r.GetServerInfo() == nil {
			return fmt.Errorf("Connect: no server_info")
		}
	}
	s.idleSince = time.Now()
	v, err := s.cli.GetVersion(ctx, &milvuspb.GetVersionRequest{})
	if err := ok("GetVersion", v.GetStatus(), err); err != nil {
		return err
	}
	if v.GetVersion() == "" {
		return fmt.Errorf("GetVersion: empty version")
	}
	h, err := s.cli.CheckHealth(ctx, &milvuspb.CheckHealthRequest{})
	if err := ok("CheckHealth", h.GetStatus(), err); err != nil {
		return err
	}
	if !h.GetIsHealthy() {
		return fmt.Errorf("CheckHealth: not healthy: %v", h.GetReasons())
	}
	note("server version %s", v.GetVersion())
	return nil
}

func collSchema(name string, maxLen int) []byte {
	sc := &schemapb.CollectionSchema{Name: name, Fields: []*schemapb.FieldSchema{
		{Name: "id", IsPrimaryKey: true, DataType: schemapb.DataType_Int64},
		{Name: "tag", DataType: schemapb.DataType_VarChar, TypeParams: []*commonpb.KeyValuePair{kv("max_length", fmt.Sprint(maxLen))}},
		{Name: "vec", DataType: schemapb.DataType_FloatVector, TypeParams: []*commonpb.KeyValuePair{kv("dim", fmt.Sprint(dim))}},
	}}
	b, err := proto.Marshal(sc)
	if err != nil {
		panic(err)
	}
	return b
}

func (s *smoke) createColl(name string, maxLen int) error {
	ctx, cancel := ctxT(60 * time.Second)
	defer cancel()
	st, err := s.cli.CreateCollection(ctx, &milvuspb.CreateCollectionRequest{DbName: "default", CollectionName: name,
		Schema: collSchema(name, maxLen), ShardsNum: 1, ConsistencyLevel: commonpb.ConsistencyLevel_Strong})
	return ok("CreateCollection "+name, st, err)
}

func (s *smoke) createCollection() error {
	if err := s.createColl(s.coll, 64); err != nil {
		return err
	}
	ctx, cancel := ctxT(30 * time.Second)
	defer cancel()
	h, err := s.cli.HasCollection(ctx, &milvuspb.HasCollectionRequest{DbName: "default", CollectionName: s.coll})
	if err := ok("HasCollection", h.GetStatus(), err); err != nil {
		return err
	}
	if !h.GetValue() {
		return fmt.Errorf("HasCollection(%s) = false after CreateCollection", s.coll)
	}
	d, err := s.cli.DescribeCollection(ctx, &milvuspb.DescribeCollectionRequest{DbName: "default", CollectionName: s.coll})
	if err := ok("DescribeCollection", d.GetStatus(), err); err != nil {
		return err
	}
	fs := d.GetSchema().GetFields()
	var got []string
	for _, f := range fs {
		p := kvMap(f.GetTypeParams())
		got = append(got, fmt.Sprintf("%s:%v:pk=%v:dim=%s:max_length=%s", f.GetName(), f.GetDataType(), f.GetIsPrimaryKey(), p["dim"], p["max_length"]))
	}
	want := []string{"id:Int64:pk=true:dim=:max_length=", "tag:VarChar:pk=false:dim=:max_length=64", "vec:FloatVector:pk=false:dim=32:max_length="}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		return fmt.Errorf("DescribeCollection schema fields\n  got  %v\n  want %v", got, want)
	}
	if d.GetCollectionName() != s.coll || d.GetSchema().GetName() != s.coll {
		return fmt.Errorf("DescribeCollection names %q / %q", d.GetCollectionName(), d.GetSchema().GetName())
	}
	return nil
}

func (s *smoke) index(coll string, params ...*commonpb.KeyValuePair) error {
	ctx, cancel := ctxT(120 * time.Second)
	defer cancel()
	st, err := s.cli.CreateIndex(ctx, &milvuspb.CreateIndexRequest{DbName: "default", CollectionName: coll, FieldName: "vec",
		IndexName: "vec_idx", ExtraParams: params})
	return ok("CreateIndex "+coll, st, err)
}

func (s *smoke) createIndex() error {
	// As the Go SDK sends them: index_type, metric_type and each build parameter as its own pair.
	if err := s.index(s.coll, kv("index_type", "HNSW"), kv("metric_type", "L2"), kv("M", "16"), kv("efConstruction", "128")); err != nil {
		return err
	}
	ctx, cancel := ctxT(30 * time.Second)
	defer cancel()
	d, err := s.cli.DescribeIndex(ctx, &milvuspb.DescribeIndexRequest{DbName: "default", CollectionName: s.coll, FieldName: "vec"})
	if err := ok("DescribeIndex", d.GetStatus(), err); err != nil {
		return err
	}
	if len(d.GetIndexDescriptions()) != 1 {
		return fmt.Errorf("DescribeIndex: %d descriptions", len(d.GetIndexDescriptions()))
	}
	ix := d.GetIndexDescriptions()[0]
	p := kvMap(ix.GetParams())
	if ix.GetIndexName() != "vec_idx" || ix.GetFieldName() != "vec" || p["index_type"] != "HNSW" || p["metric_type"] != "L2" || p["M"] != "16" || p["efConstruction"] != "128" {
		return fmt.Errorf("DescribeIndex: name %q field %q params %v", ix.GetIndexName(), ix.GetFieldName(), p)
	}
	return nil
}

func (s *smoke) partitions() error {
	ctx, cancel := ctxT(30 * time.Second)
	defer cancel()
	st, err := s.cli.CreatePartition(ctx, &milvuspb.CreatePartitionRequest{DbName: "default", CollectionName: s.coll, PartitionName: "part_a"})
	if err := ok("CreatePartition", st, err); err != nil {
		return err
	}
	r, err := s.cli.ShowPartitions(ctx, &milvuspb.ShowPartitionsRequest{DbName: "default", CollectionName: s.coll})
	if err := ok("ShowPartitions", r.GetStatus(), err); err != nil {
		return err
	}
	names := append([]string(nil), r.GetPartitionNames()...)
	sort.Strings(names)
	if strings.Join(names, ",") != "_default,part_a" {
		return fmt.Errorf("ShowPartitions: %v", r.GetPartitionNames())
	}
	if len(r.GetPartitionIDs()) != 2 || r.GetPartitionIDs()[0] == r.GetPartitionIDs()[1] {
		return fmt.Errorf("ShowPartitions: partition ids %v", r.GetPartitionIDs())
	}
	return nil
}

func (s *smoke) loadColl(coll string) error {
	ctx, cancel := ctxT(120 * time.Second)
	defer cancel()
	st, err := s.cli.LoadCollection(ctx, &milvuspb.LoadCollectionRequest{DbName: "default", CollectionName: coll})
	if err := ok("LoadCollection "+coll, st, err); err != nil {
		return err
	}
	for {
		r, err := s.cli.GetLoadState(ctx, &milvuspb.GetLoadStateRequest{DbName: "default", CollectionName: coll})
		if err := ok("GetLoadState", r.GetStatus(), err); err != nil {
			return err
		}
		if r.GetState() == commonpb.LoadState_LoadStateLoaded {
			return nil
		}
		if r.GetState() != commonpb.LoadState_LoadStateLoading {
			return fmt.Errorf("GetLoadState after LoadCollection: %v", r.GetState())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *smoke) load() error { return s.loadColl(s.coll) }

func columns(rows []row) []*schemapb.FieldData {
	ids := make([]int64, len(rows))
	tags := make([]string, len(rows))
	vecs := make([]float32, 0, dim*len(rows))
	for i, r := range rows {
		ids[i], tags[i] = r.id, r.tag
		vecs = append(vecs, r.vec...)
	}
	return []*schemapb.FieldData{
		{Type: schemapb.DataType_Int64, FieldName: "id", Field: &schemapb.FieldData_Scalars{Scalars: &schemapb.ScalarField{
			Data: &schemapb.ScalarField_LongData{LongData: &schemapb.LongArray{Data: ids}}}}},
		{Type: schemapb.DataType_VarChar, FieldName: "tag", Field: &schemapb.FieldData_Scalars{Scalars: &schemapb.ScalarField{
			Data: &schemapb.ScalarField_StringData{StringData: &schemapb.StringArray{Data: tags}}}}},
		{Type: schemapb.DataType_FloatVector, FieldName: "vec", Field: &schemapb.FieldData_Vectors{Vectors: &schemapb.VectorField{
			Dim: dim, Data: &schemapb.VectorField_FloatVector{FloatVector: &schemapb.FloatArray{Data: vecs}}}}},
	}
}

func (s *smoke) insertRows(coll, partition string, rows []row) error {
	ctx, cancel := ctxT(120 * time.Second)
	defer cancel()
	req := &milvuspb.InsertRequest{DbName: "default", CollectionName: coll, PartitionName: partition,
		FieldsData: columns(rows), NumRows: uint32(len(rows))}
	r, err := s.cli.Insert(ctx, req)
	if err := ok("Insert", r.GetStatus(), err); err != nil {
		return err
	}
	if r.GetInsertCnt() != int64(len(rows)) {
		return fmt.Errorf("Insert: insert_cnt %d, want %d", r.GetInsertCnt(), len(rows))
	}
	ids := r.GetIDs().GetIntId().GetData()
	if len(ids) != len(rows) {
		return fmt.Errorf("Insert: %d IDs back, want %d", len(ids), len(rows))
	}
	for i := range rows {
		if ids[i] != rows[i].id {
			return fmt.Errorf("Insert: IDs[%d] = %d, want %d", i, ids[i], rows[i].id)
		}
	}
	return nil
}

// count runs Query count(*) with expr ("" for all rows) over the given partitions.
func (s *smoke) count(coll, expr string, parts ...string) (int64, error) {
	ctx, cancel := ctxT(60 * time.Second)
	defer cancel()
	r, err := s.cli.Query(ctx, &milvuspb.QueryRequest{DbName: "default", CollectionName: coll, Expr: expr,
		OutputFields: []string{"count(*)"}, PartitionNames: parts, ConsistencyLevel: commonpb.ConsistencyLevel_Strong})
	if err := ok("Query count(*)", r.GetStatus(), err); err != nil {
		return 0, err
	}
	if len(r.GetFieldsData()) != 1 || len(r.GetFieldsData()[0].GetScalars().GetLongData().GetData()) != 1 {
		return 0, fmt.Errorf("Query count(*): fields %v", r.GetFieldsData())
	}
	return r.GetFieldsData()[0].GetScalars().GetLongData().GetData()[0], nil
}

func (s *smoke) insert() error {
	s.rows = make([]row, nRows)
	for i := range s.rows {
		s.rows[i] = row{id: int64(i), tag: colors[s.rng.Intn(len(colors))], vec: randVec(s.rng)}
	}
	split := nRows - partRows
	for _, b := range []struct {
		part   string
		lo, hi int
	}{{"", 0, 1000}, {"_default", 1000, split}, {"part_a", split, nRows}} {
		if err := s.insertRows(s.coll, b.part, s.rows[b.lo:b.hi]); err != nil {
			return err
		}
	}
	ctx, cancel := ctxT(120 * time.Second)
	defer cancel()
	f, err := s.cli.Flush(ctx, &milvuspb.FlushRequest{DbName: "default", CollectionNames: []string{s.coll}})
	if err := ok("Flush", f.GetStatus(), err); err != nil {
		return err
	}
	if n, err := s.count(s.coll, ""); err != nil || n != nRows {
		return fmt.Errorf("count(*) after insert: %d, %v; want %d", n, err, nRows)
	}
	if n, err := s.count(s.coll, "", "part_a"); err != nil || n != partRows {
		return fmt.Errorf("count(*) of part_a: %d, %v; want %d", n, err, partRows)
	}
	return nil
}

func (s *smoke) byID() map[int64]row {
	m := map[int64]row{}
	for _, r := range s.rows {
		if !s.deleted[r.id] {
			m[r.id] = r
		}
	}
	return m
}

// searchCheck runs one nq-query search on the main (HNSW) collection and checks every hit exactly
// (filter, partition, score = true distance, output fields) and the average recall@10.
func (s *smoke) searchCheck(nq int, expr string, parts []string, keep func(row) bool, minRecall float64) error {
	qs := make([][]float32, nq)
	for i := range qs {
		qs[i] = randVec(s.rng)
	}
	ctx, cancel := ctxT(60 * time.Second)
	defer cancel()
	res, err := s.cli.Search(ctx, searchReq(s.coll, qs, expr, topK, `{"ef": 64}`, []string{"tag", "vec"}, parts))
	if err := ok("Search", res.GetStatus(), err); err != nil {
		return err
	}
	hs, err := hits(res, nq)
	if err != nil {
		return fmt.Errorf("Search: %v", err)
	}
	live := func(r row) bool { return !s.deleted[r.id] && keep(r) }
	byID := s.byID()
	var sum float64
	for q := range qs {
		want := exact(s.rows, qs[q], topK, live)
		rec, err := checkHits(hs[q], qs[q], want, byID, live, true)
		if err != nil {
			return fmt.Errorf("query %d: %v", q, err)
		}
		sum += rec
	}
	recall := sum / float64(nq)
	note("expr %q partitions %v: recall@%d %.3f over %d queries", expr, parts, topK, recall, nq)
	if recall < minRecall {
		return fmt.Errorf("recall@%d %.3f < %.2f", topK, recall, minRecall)
	}
	return nil
}

func (s *smoke) searchFiltered() error {
	return s.searchCheck(20, `tag in ["red", "blue"] and id >= 200`, nil,
		func(r row) bool { return (r.tag == "red" || r.tag == "blue") && r.id >= 200 }, 0.9)
}

func (s *smoke) searchPartition() error {
	return s.searchCheck(5, "", []string{"part_a"}, func(r row) bool { return r.id >= nRows-partRows }, 0.9)
}

func (s *smoke) query() error {
	expr := `id >= 100 and id < 400 and tag != "green"`
	ctx, cancel := ctxT(60 * time.Second)
	defer cancel()
	r, err := s.cli.Query(ctx, &milvuspb.QueryRequest{DbName: "default", CollectionName: s.coll, Expr: expr,
		OutputFields: []string{"id", "tag", "vec"}, ConsistencyLevel: commonpb.ConsistencyLevel_Strong})
	if err := ok("Query", r.GetStatus(), err); err != nil {
		return err
	}
	var ids []int64
	var tags []string
	var vecs []float32
	for _, f := range r.GetFieldsData() {
		switch f.GetFieldName() {
		case "id":
			ids = f.GetScalars().GetLongData().GetData()
		case "tag":
			tags = f.GetScalars().GetStringData().GetData()
		case "vec":
			vecs = f.GetVectors().GetFloatVector().GetData()
		}
	}
	want := map[int64]row{}
	for _, x := range s.rows {
		if x.id >= 100 && x.id < 400 && x.tag != "green" {
			want[x.id] = x
		}
	}
	if len(ids) != len(want) || len(tags) != len(ids) || len(vecs) != dim*len(ids) {
		return fmt.Errorf("Query %q: %d ids, %d tags, %d floats; want %d rows", expr, len(ids), len(tags), len(vecs), len(want))
	}
	seen := map[int64]bool{}
	for i, id := range ids {
		w, found := want[id]
		if !found || seen[id] {
			return fmt.Errorf("Query: id %d unexpected or repeated", id)
		}
		seen[id] = true
		if tags[i] != w.tag {
			return fmt.Errorf("Query: id %d tag %q, want %q", id, tags[i], w.tag)
		}
		for j := 0; j < dim; j++ {
			if vecs[dim*i+j] != w.vec[j] {
				return fmt.Errorf("Query: id %d vec[%d] = %v, want %v", id, j, vecs[dim*i+j], w.vec[j])
			}
		}
	}
	note("%d rows, all fields exact", len(ids))
	return nil
}

func (s *smoke) delete() error {
	expr := `id < 300 and tag == "red"`
	var gone []int64
	for _, r := range s.rows {
		if r.id < 300 && r.tag == "red" {
			gone = append(gone, r.id)
		}
	}
	ctx, cancel := ctxT(60 * time.Second)
	defer cancel()
	r, err := s.cli.Delete(ctx, &milvuspb.DeleteRequest{DbName: "default", CollectionName: s.coll, Expr: expr})
	if err := ok("Delete", r.GetStatus(), err); err != nil {
		return err
	}
	if r.GetDeleteCnt() != int64(len(gone)) {
		return fmt.Errorf("Delete: delete_cnt %d, want %d", r.GetDeleteCnt(), len(gone))
	}
	for _, id := range gone {
		s.deleted[id] = true
	}
	if n, err := s.count(s.coll, expr); err != nil || n != 0 {
		return fmt.Errorf("count(*) of deleted rows: %d, %v; want 0", n, err)
	}
	if n, err := s.count(s.coll, ""); err != nil || n != int64(nRows-len(gone)) {
		return fmt.Errorf("count(*) after delete: %d, %v; want %d", n, err, nRows-len(gone))
	}
	note("%d rows deleted", len(gone))
	// Searches over the deleted range: no deleted id may come back, and recall against the live rows.
	return s.searchCheck(10, "id < 600", nil, func(r row) bool { return r.id < 600 }, 0.9)
}

func (s *smoke) largeInsert() error {
	if err := s.createColl(s.big, 512); err != nil {
		return err
	}
	if err := s.index(s.big, kv("index_type", "FLAT"), kv("metric_type", "L2")); err != nil {
		return err
	}
	if err := s.loadColl(s.big); err != nil {
		return err
	}
	letters := "abcdefghijklmnopqrstuvwxyz0123456789"
	s.bigRows = make([]row, bigRows)
	buf := make([]byte, bigText)
	for i := range s.bigRows {
		for j := range buf {
			buf[j] = letters[s.rng.Intn(len(letters))]
		}
		s.bigRows[i] = row{id: int64(1_000_000 + i), tag: colors[i%len(colors)] + ":" + string(buf), vec: randVec(s.rng)}
	}
	size := proto.Size(&milvuspb.InsertRequest{DbName: "default", CollectionName: s.big, FieldsData: columns(s.bigRows), NumRows: bigRows})
	if size <= 8<<20 || size >= 64<<20 {
		return fmt.Errorf("the large insert is %d bytes; it must pass the 8 MiB stream window and stay under the 64 MiB limit", size)
	}
	before := s.wire.snapshot()
	if err := s.insertRows(s.big, "", s.bigRows); err != nil {
		return err
	}
	after := s.wire.snapshot()
	sent := after.ClientDataBytes - before.ClientDataBytes
	upd := after.ServerStreamWindowUpdates - before.ServerStreamWindowUpdates
	note("insert message %.1f MiB; %.1f MiB of DATA sent, %d stream WINDOW_UPDATEs back (server window %d)",
		float64(size)/(1<<20), float64(sent)/(1<<20), upd, after.ServerInitialWindow)
	if sent < int64(size) {
		return fmt.Errorf("only %d DATA bytes went out for a %d-byte message", sent, size)
	}
	if int64(size) > int64(after.ServerInitialWindow) && upd == 0 {
		return fmt.Errorf("a %d-byte message passed a %d-byte stream window without a WINDOW_UPDATE", size, after.ServerInitialWindow)
	}
	if n, err := s.count(s.big, ""); err != nil || n != bigRows {
		return fmt.Errorf("count(*) after the large insert: %d, %v; want %d", n, err, bigRows)
	}
	return nil
}

// exactCheck checks a FLAT search: every hit's score is its true distance and equals the exact
// k-th distance at its rank.
func exactCheck(got []hit, q []float32, rows []row, byID map[int64]row, k int, keep func(row) bool, fields bool) error {
	want := exact(rows, q, k, keep)
	if _, err := checkHits(got, q, want, byID, keep, fields); err != nil {
		return err
	}
	for i := range want {
		if !closeTo(got[i].score, want[i].dist) {
			return fmt.Errorf("rank %d: id %d at %v, exact has id %d at %v", i, got[i].id, got[i].score, want[i].id, want[i].dist)
		}
	}
	return nil
}

func (s *smoke) bigByID() map[int64]row {
	m := make(map[int64]row, len(s.bigRows))
	for _, r := range s.bigRows {
		m[r.id] = r
	}
	return m
}

func (s *smoke) largeSearch() error {
	const nq, k = 8, 1500
	qs := make([][]float32, nq)
	for i := range qs {
		qs[i] = randVec(s.rng)
	}
	ctx, cancel := ctxT(120 * time.Second)
	defer cancel()
	res, err := s.cli.Search(ctx, searchReq(s.big, qs, "", k, "{}", []string{"tag", "vec"}, nil))
	if err := ok("Search (large)", res.GetStatus(), err); err != nil {
		return err
	}
	size := proto.Size(res)
	if size <= 4<<20 {
		return fmt.Errorf("the large search reply is only %d bytes", size)
	}
	hs, err := hits(res, nq)
	if err != nil {
		return err
	}
	byID := s.bigByID()
	all := func(row) bool { return true }
	for q := range qs {
		if err := exactCheck(hs[q], qs[q], s.bigRows, byID, k, all, true); err != nil {
			return fmt.Errorf("query %d: %v", q, err)
		}
	}
	note("reply %.1f MiB: %d queries x top-%d with tag and vec, all exact", float64(size)/(1<<20), nq, k)
	return nil
}

// oversized sends an Insert past the server's 64 MiB message limit: the server refuses it from its
// length prefix with RESOURCE_EXHAUSTED while the client is still sending DATA, and the connection
// must stay usable (its flow-control windows credited for what the server dropped).
func (s *smoke) oversized() error {
	const n = 160_000
	rows := make([]row, n)
	text := strings.Repeat("x", 300)
	vec := make([]float32, dim)
	for i := range rows {
		rows[i] = row{id: int64(5_000_000 + i), tag: text, vec: vec}
	}
	req := &milvuspb.InsertRequest{DbName: "default", CollectionName: s.big, FieldsData: columns(rows), NumRows: n}
	size := proto.Size(req)
	if size <= 64<<20 {
		return fmt.Errorf("the oversized insert is only %d bytes", size)
	}
	before := s.wire.snapshot()
	ctx, cancel := ctxT(120 * time.Second)
	defer cancel()
	_, err := s.cli.Insert(ctx, req, grpc.MaxCallSendMsgSize(128<<20))
	if status.Code(err) != codes.ResourceExhausted {
		return fmt.Errorf("a %d-byte Insert: %v, want RESOURCE_EXHAUSTED", size, err)
	}
	after := s.wire.snapshot()
	note("%.1f MiB insert: %v; %.1f MiB of it sent before the refusal", float64(size)/(1<<20), status.Convert(err).Message(),
		float64(after.ClientDataBytes-before.ClientDataBytes)/(1<<20))
	// The same connection: the large insert's rows are all there, none of the refused ones, and an
	// 8 MiB message still goes through its windows.
	if nrows, err := s.count(s.big, ""); err != nil || nrows != bigRows {
		return fmt.Errorf("count(*) after the refused insert: %d, %v; want %d", nrows, err, bigRows)
	}
	res, err := s.cli.Query(ctx, &milvuspb.QueryRequest{DbName: "default", CollectionName: s.big, Expr: "id >= 0",
		OutputFields: []string{"id", "tag", "vec"}, QueryParams: []*commonpb.KeyValuePair{kv("limit", "16384")}})
	if err := ok("Query (16,384 rows)", res.GetStatus(), err); err != nil {
		return err
	}
	if got := len(res.GetFieldsData()[0].GetScalars().GetLongData().GetData()); got != 16384 {
		return fmt.Errorf("Query limit 16384 returned %d rows", got)
	}
	if w := s.wire.snapshot(); w.Dials != 1 || len(w.ServerGoAways) != 0 {
		return fmt.Errorf("after the refusal: %d dials, GOAWAYs %v", w.Dials, w.ServerGoAways)
	}
	return nil
}

// cancelled abandons large uploads half-way (the client resets the stream while DATA is in flight)
// and lets deadlines expire on the server mid-upload: the bytes the server drops must still be
// credited to the connection's window, or the connection stalls once they add up past it.
func (s *smoke) cancelled() error {
	const n = 20_000
	rows := make([]row, n)
	text := strings.Repeat("y", 400)
	for i := range rows {
		rows[i] = row{id: int64(7_000_000 + i), tag: text, vec: make([]float32, dim)}
	}
	// A collection that does not exist: whatever arrives whole is refused, so nothing is inserted.
	req := &milvuspb.InsertRequest{DbName: "default", CollectionName: "go_smoke_absent", FieldsData: columns(rows), NumRows: n}
	size := proto.Size(req)
	before := s.wire.snapshot()
	outcomes := map[string]int{}
	const rounds = 8
	for i := 0; i < rounds; i++ {
		d := time.Duration(2+3*i) * time.Millisecond
		ctx, cancel := ctxT(d)
		r, err := s.cli.Insert(ctx, req)
		cancel()
		switch {
		case err == nil && r.GetStatus().GetCode() != 0:
			outcomes["refused in full"]++
		case status.Code(err) == codes.DeadlineExceeded || status.Code(err) == codes.Canceled:
			outcomes[status.Code(err).String()]++
		default:
			return fmt.Errorf("round %d (deadline %v): %v, status %v", i, d, err, r.GetStatus())
		}
	}
	sent := s.wire.snapshot().ClientDataBytes - before.ClientDataBytes
	note("%d uploads of %.1f MiB with 2-23 ms deadlines: %v; %.1f MiB of DATA sent", rounds, float64(size)/(1<<20), outcomes,
		float64(sent)/(1<<20))
	// The connection still carries a whole large message both ways.
	for i := 0; i < 3; i++ {
		ctx, cancel := ctxT(60 * time.Second)
		r, err := s.cli.Insert(ctx, req)
		cancel()
		if err != nil || r.GetStatus().GetCode() == 0 {
			return fmt.Errorf("a whole %d-byte insert into a missing collection after the cancelled ones: %v, status %v", size, err, r.GetStatus())
		}
	}
	if nrows, err := s.count(s.big, ""); err != nil || nrows != bigRows {
		return fmt.Errorf("count(*): %d, %v; want %d", nrows, err, bigRows)
	}
	if w := s.wire.snapshot(); w.Dials != 1 || len(w.ServerGoAways) != 0 {
		return fmt.Errorf("after the cancelled uploads: %d dials, GOAWAYs %v", w.Dials, w.ServerGoAways)
	}
	return nil
}

func (s *smoke) concurrent() error {
	const n = 32
	before := s.wire.snapshot()
	if before.Open != 0 {
		return fmt.Errorf("%d streams still open before the concurrent searches", before.Open)
	}
	s.wire.resetPeak()
	qs := make([][]float32, n)
	for i := range qs {
		qs[i] = randVec(s.rng)
	}
	byID := s.bigByID()
	errs := make([]error, n)
	startGate := make(chan struct{})
	var wg sync.WaitGroup
	for g := 0; g < n; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			<-startGate
			lo := int64(1_000_000 + 500*g) // a different filter per stream: crossed replies cannot pass
			keep := func(r row) bool { return r.id >= lo }
			ctx, cancel := ctxT(120 * time.Second)
			defer cancel()
			res, err := s.cli.Search(ctx, searchReq(s.big, qs[g:g+1], fmt.Sprintf("id >= %d", lo), topK, "{}", []string{"tag", "vec"}, nil))
			if err := ok("Search", res.GetStatus(), err); err != nil {
				errs[g] = err
				return
			}
			hs, err := hits(res, 1)
			if err == nil {
				err = exactCheck(hs[0], qs[g], s.bigRows, byID, topK, keep, true)
			}
			errs[g] = err
		}(g)
	}
	close(startGate)
	wg.Wait()
	for g, err := range errs {
		if err != nil {
			return fmt.Errorf("search %d: %v", g, err)
		}
	}
	after := s.wire.snapshot()
	note("peak %d streams open at once on %d TCP connection(s); server allows %d", after.PeakOpen, after.Dials, after.ServerMaxConcurrent)
	if after.Dials != 1 || before.Dials != 1 {
		return fmt.Errorf("the ClientConn dialled %d connections", after.Dials)
	}
	if after.ServerMaxConcurrent < n {
		return fmt.Errorf("server SETTINGS_MAX_CONCURRENT_STREAMS %d < %d", after.ServerMaxConcurrent, n)
	}
	if after.PeakOpen < n/4 {
		return fmt.Errorf("only %d of %d searches were open at once", after.PeakOpen, n)
	}
	if after.ServerRSTStreams != before.ServerRSTStreams {
		return fmt.Errorf("the server reset %d streams", after.ServerRSTStreams-before.ServerRSTStreams)
	}
	// More calls at once than SETTINGS_MAX_CONCURRENT_STREAMS: grpc-go queues the excess, and every
	// call is answered (a count per call, each over its own id range).
	burst := int(after.ServerMaxConcurrent) + 64
	s.wire.resetPeak()
	berrs := make([]error, burst)
	gate := make(chan struct{})
	for g := 0; g < burst; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			<-gate
			lo := 1_000_000 + int64(g)*50
			c, err := s.count(s.big, fmt.Sprintf("id >= %d and id < %d", lo, lo+int64(g%50)))
			if err == nil && c != int64(g%50) {
				err = fmt.Errorf("count %d, want %d", c, g%50)
			}
			berrs[g] = err
		}(g)
	}
	close(gate)
	wg.Wait()
	for g, err := range berrs {
		if err != nil {
			return fmt.Errorf("burst call %d of %d: %v", g, burst, err)
		}
	}
	b := s.wire.snapshot()
	note("burst of %d calls: peak %d streams open, %d RST_STREAM from the server; %d PINGs from grpc-go on this connection so far",
		burst, b.PeakOpen, b.ServerRSTStreams-after.ServerRSTStreams, b.ClientPings)
	// grpc-go sends a BDP PING whenever DATA arrives and none is outstanding: hundreds by now. A
	// server that counts them as a flood ends the connection with GOAWAY ENHANCE_YOUR_CALM (11).
	if len(b.ServerGoAways) != 0 || b.Dials != 1 {
		return fmt.Errorf("burst: GOAWAY %v from the server, %d dials, after %d client PINGs", b.ServerGoAways, b.Dials, b.ClientPings)
	}
	if b.PeakOpen > int(b.ServerMaxConcurrent) {
		return fmt.Errorf("burst: peak %d streams (limit %d)", b.PeakOpen, b.ServerMaxConcurrent)
	}
	return nil
}

func (s *smoke) keepalive() error {
	// The idle ClientConn has made no call since Connect; grpc-go pings after 10 s without reads
	// (PermitWithoutStream). Wait (at most 25 s after its last call) for a keepalive PING and its ACK.
	t0 := time.Now()
	for time.Since(s.idleSince) < 25*time.Second {
		if w := s.idleW.snapshot(); w.ClientKeepalivePings >= 1 && w.ServerPingAcks >= w.ClientPings {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	note("waited %.1f s; the idle connection's last call was %.1f s ago", time.Since(t0).Seconds(), time.Since(s.idleSince).Seconds())
	w := s.idleW.snapshot()
	note("idle conn: %d PINGs sent (%d keepalive), %d ACKed; server GOAWAYs %v; main conn GOAWAYs %v",
		w.ClientPings, w.ClientKeepalivePings, w.ServerPingAcks, w.ServerGoAways, s.wire.snapshot().ServerGoAways)
	if w.ClientKeepalivePings < 1 {
		return fmt.Errorf("grpc-go sent no keepalive PING in 25 s idle")
	}
	if w.ServerPingAcks < w.ClientPings-1 || w.ServerPingAcks < 1 {
		return fmt.Errorf("%d PINGs, only %d ACKs", w.ClientPings, w.ServerPingAcks)
	}
	if len(w.ServerGoAways) != 0 || len(s.wire.snapshot().ServerGoAways) != 0 {
		return fmt.Errorf("the server sent GOAWAY (codes %v / %v)", w.ServerGoAways, s.wire.snapshot().ServerGoAways)
	}
	if st := s.idle.GetState(); st != connectivity.Ready {
		return fmt.Errorf("idle ClientConn state %v", st)
	}
	ctx, cancel := ctxT(30 * time.Second)
	defer cancel()
	v, err := s.idleCli.GetVersion(ctx, &milvuspb.GetVersionRequest{})
	if err := ok("GetVersion (idle conn)", v.GetStatus(), err); err != nil {
		return err
	}
	if d := s.idleW.snapshot().Dials; d != 1 {
		return fmt.Errorf("the idle ClientConn reconnected (%d dials)", d)
	}
	return nil
}

func (s *smoke) drop() error {
	ctx, cancel := ctxT(60 * time.Second)
	defer cancel()
	st, err := s.cli.DropCollection(ctx, &milvuspb.DropCollectionRequest{DbName: "default", CollectionName: s.coll})
	if err := ok("DropCollection", st, err); err != nil {
		return err
	}
	h, err := s.cli.HasCollection(ctx, &milvuspb.HasCollectionRequest{DbName: "default", CollectionName: s.coll})
	if err := ok("HasCollection", h.GetStatus(), err); err != nil {
		return err
	}
	if h.GetValue() {
		return fmt.Errorf("HasCollection(%s) = true after DropCollection", s.coll)
	}
	// A call on the dropped collection: the error travels in the reply's status, as Milvus sends it.
	res, err := s.cli.Search(ctx, searchReq(s.coll, [][]float32{randVec(s.rng)}, "", topK, "{}", nil, nil))
	if err != nil {
		return fmt.Errorf("Search on a dropped collection: gRPC error %v (want a status in the reply)", err)
	}
	if res.GetStatus() == nil || res.GetStatus().GetCode() == 0 || res.GetStatus().GetErrorCode() == commonpb.ErrorCode_Success || res.GetStatus().GetReason() == "" {
		return fmt.Errorf("Search on a dropped collection: status %v", res.GetStatus())
	}
	note("Search on it: code %d error_code %v reason %q", res.GetStatus().GetCode(), res.GetStatus().GetErrorCode(), res.GetStatus().GetReason())
	return nil
}

func (s *smoke) shutdown() error {
	const workers = 8
	type tally struct {
		ok, okAfter, okSpanning, unavailable int
		err                      error
	}
	var sigSent int32Flag
	byID := s.bigByID()
	results := make([]tally, workers)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := 0; g < workers; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			r := rand.New(rand.NewSource(int64(100 + g)))
			t := &results[g]
			for {
				select {
				case <-stop:
					return
				default:
				}
				lo := int64(1_000_000 + r.Intn(bigRows-100))
				startedAfter := sigSent.get()
				ctx, cancel := ctxT(20 * time.Second)
				res, err := s.cli.Query(ctx, &milvuspb.QueryRequest{DbName: "default", CollectionName: s.big,
					Expr: fmt.Sprintf("id >= %d and id < %d", lo, lo+50), OutputFields: []string{"id", "tag"}})
				cancel()
				after := sigSent.get() // UNAVAILABLE is an answer only once the server was told to stop
				if err != nil {
					if status.Code(err) == codes.Unavailable && after {
						t.unavailable++
						time.Sleep(20 * time.Millisecond)
						continue
					}
					t.err = fmt.Errorf("worker %d (signal sent: %v): %v", g, after, err)
					return
				}
				if e := ok("Query", res.GetStatus(), nil); e != nil {
					t.err = e
					return
				}
				var ids []int64
				var tags []string
				for _, f := range res.GetFieldsData() {
					switch f.GetFieldName() {
					case "id":
						ids = f.GetScalars().GetLongData().GetData()
					case "tag":
						tags = f.GetScalars().GetStringData().GetData()
					}
				}
				if len(ids) != 50 || len(tags) != 50 {
					t.err = fmt.Errorf("worker %d: %d ids, %d tags for a 50-row range", g, len(ids), len(tags))
					return
				}
				seen := map[int64]bool{}
				for i, id := range ids {
					if id < lo || id >= lo+50 || seen[id] || byID[id].tag != tags[i] {
						t.err = fmt.Errorf("worker %d: row %d (tag %.12q) is wrong for range [%d, %d)", g, id, tags[i], lo, lo+50)
						return
					}
					seen[id] = true
				}
				t.ok++
				if startedAfter {
					t.okAfter++
				} else if after {
					t.okSpanning++ // in flight when the signal went: the graceful shutdown let it finish
				}
			}
		}(g)
	}
	time.Sleep(500 * time.Millisecond)
	sigSent.set()
	t0 := time.Now()
	if err := s.srv.terminate(); err != nil {
		close(stop)
		wg.Wait()
		return err
	}
	var exitErr error
	exited := false
	select {
	case <-s.srv.exited:
		exited, exitErr = true, s.srv.exitErr
	case <-time.After(30 * time.Second):
	}
	exitTime := time.Since(t0)
	time.Sleep(200 * time.Millisecond) // calls after the exit must fail with UNAVAILABLE too
	close(stop)
	wg.Wait()
	var sum tally
	for g, t := range results {
		if t.err != nil {
			return t.err
		}
		if t.ok == 0 {
			return fmt.Errorf("worker %d never got an answer", g)
		}
		sum.ok += t.ok
		sum.okAfter += t.okAfter
		sum.okSpanning += t.okSpanning
		sum.unavailable += t.unavailable
	}
	w := s.wire.snapshot()
	note("%d queries answered (%d in flight at SIGTERM, %d sent after it), %d UNAVAILABLE; server exited in %.2f s (%v); GOAWAY codes %v",
		sum.ok, sum.okSpanning, sum.okAfter, sum.unavailable, exitTime.Seconds(), exitErr, w.ServerGoAways)
	if !exited {
		return fmt.Errorf("vireo serve did not exit within 30 s of SIGTERM")
	}
	if exitErr != nil {
		return fmt.Errorf("vireo serve exited with %v", exitErr)
	}
	if sum.unavailable == 0 {
		return fmt.Errorf("no call failed after the server exited")
	}
	if len(w.ServerGoAways) == 0 {
		return fmt.Errorf("the server closed the connection without GOAWAY")
	}
	for _, c := range w.ServerGoAways {
		if c != 0 {
			return fmt.Errorf("GOAWAY with error code %d during a graceful shutdown", c)
		}
	}
	return nil
}

type int32Flag struct {
	mu sync.Mutex
	v  bool
}

func (f *int32Flag) set() { f.mu.Lock(); f.v = true; f.mu.Unlock() }
func (f *int32Flag) get() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.v
}
