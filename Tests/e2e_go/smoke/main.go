// Command smoke drives `vireo serve`'s gRPC MilvusService through grpc-go (Debian's
// golang-google-grpc-dev) with protobuf types generated at test time from the repo's proto/: a
// second HTTP/2 stack besides pymilvus' grpcio against Vireo's own h2c transport. See
// Tests/e2e_go/README.md; Tests/e2e_go/run.sh builds and runs it.
//
//	smoke -bin .build/release/vireo
//
// Every check is against exact computation over the seeded rows it inserted. It prints one line
// per step and closes with "go-smoke: N passed, M failed"; the exit status is non-zero on failure.
package main

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand"
	"os"
	"sort"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"vireo-e2e/pb/commonpb"
	"vireo-e2e/pb/milvuspb"
)

const (
	dim      = 32
	nRows    = 2000
	partRows = 500 // rows 1500..1999 go to the partition
	bigRows  = 20000
	bigText  = 300 // bytes of text per row in the large insert
	topK     = 10
)

var colors = []string{"red", "green", "blue", "amber"}

type row struct {
	id  int64
	tag string
	vec []float32
}

type smoke struct {
	bin, dataDir string
	srv          *vireoServer
	conn, idle   *grpc.ClientConn
	cli          milvuspb.MilvusServiceClient
	idleCli      milvuspb.MilvusServiceClient
	wire, idleW  *wireStats
	idleSince    time.Time
	rng          *rand.Rand
	coll, big    string
	rows         []row // the main collection's rows, index == id
	deleted      map[int64]bool
	bigRows      []row
	node         *nodeSDK // attu's session (attu.go)
}

func main() {
	bin := flag.String("bin", ".build/release/vireo", "the vireo binary")
	seed := flag.Int64("seed", 16, "random seed of the data and queries")
	flag.Parse()
	dataDir, err := os.MkdirTemp("", "vireo-go-smoke-data-")
	if err != nil {
		fmt.Println("go-smoke: 0 passed, 1 failed")
		os.Exit(1)
	}
	defer os.RemoveAll(dataDir)
	s := &smoke{bin: *bin, dataDir: dataDir, rng: rand.New(rand.NewSource(*seed)),
		coll: "go_smoke", big: "go_smoke_big", deleted: map[int64]bool{}}
	steps := []struct {
		name string
		fn   func() error
	}{
		{"start vireo serve", s.start},
		{"Connect, GetVersion, CheckHealth (dbname metadata)", s.connect},
		{"attu login: Node SDK connect path and metadata", s.attuStart},
		{"attu databases page (create, list, describe each)", s.attuDatabases},
		{"attu home/system/users pages: metrics, RBAC, groups", s.attuSystem},
		{"attu: one collection name in two databases, load", s.attuCreate},
		{"attu collection list and detail (ids, schema, index)", s.attuCollections},
		{"attu partitions and segments tabs (real ids)", s.attuSegments},
		{"attu data browser: pages of query(*) and counts", s.attuBrowse},
		{"attu vector search (Node SDK request shape)", s.attuSearch},
		{"CreateCollection, HasCollection, DescribeCollection", s.createCollection},
		{"CreateIndex HNSW/L2, DescribeIndex", s.createIndex},
		{"CreatePartition, ShowPartitions", s.partitions},
		{"LoadCollection, GetLoadState", s.load},
		{"Insert 2,000 seeded rows (500 into a partition), Flush", s.insert},
		{"Search with a filter: HNSW recall@10 vs exact L2", s.searchFiltered},
		{"Search one partition", s.searchPartition},
		{"Query with expr and output fields (exact)", s.query},
		{"Delete by expr, then gone from Query and Search", s.delete},
		{"large Insert (> 8 MiB message, stream flow control)", s.largeInsert},
		{"large Search result (> 4 MiB reply), FLAT exact", s.largeSearch},
		{"oversized Insert (> 64 MiB): RESOURCE_EXHAUSTED, conn lives", s.oversized},
		{"uploads cut by deadlines mid-message; conn lives", s.cancelled},
		{"32 concurrent searches (+ a 320-call burst), one ClientConn", s.concurrent},
		{"keepalive PINGs on an idle ClientConn, no GOAWAY", s.keepalive},
		{"attu conn: grpc-js keepalive idle, gzip refused", s.attuKeepalive},
		{"attu: drop collections and the database", s.attuCleanup},
		{"DropCollection, then calls on it fail with a status", s.drop},
		{"graceful shutdown: SIGTERM under 8 querying goroutines", s.shutdown},
	}
	passed, failed := 0, 0
	total := time.Now()
	for _, st := range steps {
		t0 := time.Now()
		err := st.fn()
		ms := time.Since(t0).Milliseconds()
		if err != nil {
			failed++
			fmt.Printf("FAIL  %-58s %6d ms\n      %v\n", st.name, ms, err)
			break // later steps build on earlier ones
		}
		passed++
		fmt.Printf("ok    %-58s %6d ms\n", st.name, ms)
	}
	if failed > 0 {
		failed += len(steps) - passed - failed // the steps not run count as failed
		if s.srv != nil {
			fmt.Printf("--- server log (tail) ---\n%s\n", s.srv.logTail())
		}
	}
	if s.conn != nil {
		s.conn.Close()
	}
	if s.idle != nil {
		s.idle.Close()
	}
	if s.node != nil && s.node.conn != nil {
		s.node.conn.Close()
	}
	if s.srv != nil {
		s.srv.kill()
	}
	fmt.Printf("total %.1f s\n", time.Since(total).Seconds())
	fmt.Printf("go-smoke: %d passed, %d failed\n", passed, failed)
	if failed > 0 {
		os.Exit(1)
	}
}

// MARK: plumbing

func ctxT(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

// ok checks a reply's status: present, code 0, error_code Success (what the Go SDK reads).
func ok(call string, st *commonpb.Status, err error) error {
	if err != nil {
		return fmt.Errorf("%s: gRPC error: %v", call, err)
	}
	if st == nil {
		return fmt.Errorf("%s: reply has no status", call)
	}
	if st.GetCode() != 0 || st.GetErrorCode() != commonpb.ErrorCode_Success {
		return fmt.Errorf("%s: status code=%d error_code=%v reason=%q", call, st.GetCode(), st.GetErrorCode(), st.GetReason())
	}
	return nil
}

func kv(k, v string) *commonpb.KeyValuePair { return &commonpb.KeyValuePair{Key: k, Value: v} }

func kvMap(ps []*commonpb.KeyValuePair) map[string]string {
	m := map[string]string{}
	for _, p := range ps {
		m[p.GetKey()] = p.GetValue()
	}
	return m
}

func dialOpts(w *wireStats) []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithInsecure(),
		grpc.WithContextDialer(w.dialer()),
		// What the Go SDK sets: 10 s client keepalive, also without calls in flight.
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 10 * time.Second, Timeout: 10 * time.Second, PermitWithoutStream: true}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20), grpc.MaxCallSendMsgSize(64<<20)),
		// The Go SDK names the database in every call's metadata.
		grpc.WithUnaryInterceptor(func(ctx context.Context, method string, req, reply interface{}, cc *grpc.ClientConn,
			invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			return invoker(metadata.AppendToOutgoingContext(ctx, "dbname", "default"), method, req, reply, cc, opts...)
		}),
	}
}

func randVec(r *rand.Rand) []float32 {
	v := make([]float32, dim)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

func l2(a, b []float32) float64 {
	var s float64
	for i := range a {
		d := float64(a[i]) - float64(b[i])
		s += d * d
	}
	return s
}

type scored struct {
	id   int64
	dist float64
}

// exact is the brute-force top-k by squared L2 over the rows that pass keep.
func exact(rows []row, q []float32, k int, keep func(row) bool) []scored {
	var all []scored
	for _, r := range rows {
		if keep(r) {
			all = append(all, scored{r.id, l2(r.vec, q)})
		}
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].dist != all[j].dist {
			return all[i].dist < all[j].dist
		}
		return all[i].id < all[j].id
	})
	if len(all) > k {
		all = all[:k]
	}
	return all
}

func placeholder(qs [][]float32) []byte {
	vals := make([][]byte, len(qs))
	for i, q := range qs {
		b := make([]byte, 4*len(q))
		for j, x := range q {
			binary.LittleEndian.PutUint32(b[4*j:], math.Float32bits(x))
		}
		vals[i] = b
	}
	g := &commonpb.PlaceholderGroup{Placeholders: []*commonpb.PlaceholderValue{{Tag: "$0", Type: commonpb.PlaceholderType_FloatVector, Values: vals}}}
	b, err := proto.Marshal(g)
	if err != nil {
		panic(err)
	}
	return b
}

func searchReq(coll string, qs [][]float32, expr string, k int, params string, out []string, parts []string) *milvuspb.SearchRequest {
	return &milvuspb.SearchRequest{
		DbName: "default", CollectionName: coll, PartitionNames: parts, Dsl: expr, DslType: commonpb.DslType_BoolExprV1,
		SearchInput:  &milvuspb.SearchRequest_PlaceholderGroup{PlaceholderGroup: placeholder(qs)},
		OutputFields: out, Nq: int64(len(qs)), ConsistencyLevel: commonpb.ConsistencyLevel_Strong,
		SearchParams: []*commonpb.KeyValuePair{kv("anns_field", "vec"), kv("topk", fmt.Sprint(k)), kv("metric_type", "L2"),
			kv("params", params), kv("round_decimal", "-1"), kv("offset", "0")},
	}
}

type hit struct {
	id    int64
	score float32
	tag   string
	vec   []float32
}

// hits splits a SearchResults into per-query hits (with the tag and vec output fields when present).
func hits(res *milvuspb.SearchResults, nq int) ([][]hit, error) {
	d := res.GetResults()
	if d == nil {
		return nil, errors.New("no results")
	}
	if int(d.GetNumQueries()) != nq || len(d.GetTopks()) != nq {
		return nil, fmt.Errorf("num_queries %d, %d topks, want %d", d.GetNumQueries(), len(d.GetTopks()), nq)
	}
	ids := d.GetIds().GetIntId().GetData()
	if len(ids) != len(d.GetScores()) {
		return nil, fmt.Errorf("%d ids but %d scores", len(ids), len(d.GetScores()))
	}
	var tags []string
	var vecs []float32
	for _, f := range d.GetFieldsData() {
		switch f.GetFieldName() {
		case "tag":
			tags = f.GetScalars().GetStringData().GetData()
		case "vec":
			vecs = f.GetVectors().GetFloatVector().GetData()
			if f.GetVectors().GetDim() != dim {
				return nil, fmt.Errorf("vec column dim %d", f.GetVectors().GetDim())
			}
		}
	}
	if tags != nil && len(tags) != len(ids) || vecs != nil && len(vecs) != dim*len(ids) {
		return nil, fmt.Errorf("output columns have %d tags, %d floats for %d hits", len(tags), len(vecs), len(ids))
	}
	out := make([][]hit, nq)
	at := 0
	for q := 0; q < nq; q++ {
		n := int(d.GetTopks()[q])
		if at+n > len(ids) {
			return nil, fmt.Errorf("topks overrun the %d ids", len(ids))
		}
		for i := at; i < at+n; i++ {
			h := hit{id: ids[i], score: d.GetScores()[i]}
			if tags != nil {
				h.tag = tags[i]
			}
			if vecs != nil {
				h.vec = vecs[dim*i : dim*(i+1)]
			}
			out[q] = append(out[q], h)
		}
		at += n
	}
	if at != len(ids) {
		return nil, fmt.Errorf("topks sum to %d, %d ids", at, len(ids))
	}
	return out, nil
}

func closeTo(a float32, b float64) bool {
	return math.Abs(float64(a)-b) <= 1e-3*(1+math.Abs(b))
}

// checkHits checks one query's hits: distinct ids that pass keep, each score the row's true squared
// L2 distance, ascending, and the output fields equal to the row's. It returns the recall against
// the exact top-k.
func checkHits(got []hit, q []float32, want []scored, byID map[int64]row, keep func(row) bool, fields bool) (float64, error) {
	seen := map[int64]bool{}
	for i, h := range got {
		r, found := byID[h.id]
		if !found || !keep(r) {
			return 0, fmt.Errorf("hit %d: id %d is not a row the search may return", i, h.id)
		}
		if seen[h.id] {
			return 0, fmt.Errorf("hit %d: id %d twice", i, h.id)
		}
		seen[h.id] = true
		if d := l2(r.vec, q); !closeTo(h.score, d) {
			return 0, fmt.Errorf("hit %d (id %d): score %v, but its squared L2 distance is %v", i, h.id, h.score, d)
		}
		if i > 0 && h.score < got[i-1].score {
			return 0, fmt.Errorf("hit %d: scores not ascending (%v after %v)", i, h.score, got[i-1].score)
		}
		if fields {
			if h.tag != r.tag {
				return 0, fmt.Errorf("hit %d (id %d): tag %q, want %q", i, h.id, h.tag, r.tag)
			}
			for j := range r.vec {
				if h.vec[j] != r.vec[j] {
					return 0, fmt.Errorf("hit %d (id %d): vec[%d] %v, want %v", i, h.id, j, h.vec[j], r.vec[j])
				}
			}
		}
	}
	if len(got) != len(want) {
		return 0, fmt.Errorf("%d hits, want %d", len(got), len(want))
	}
	inter := 0
	for _, w := range want {
		if seen[w.id] {
			inter++
		}
	}
	return float64(inter) / float64(max(1, len(want))), nil
}

func max(a, b int) int {
	if a > b {
		return a
	}
	return b
}
