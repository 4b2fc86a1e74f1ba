package main

// attu and Milvus' Node SDK (@zilliz/milvus2-sdk-node on grpc-js), replayed through grpc-go: the
// calls, request shapes and metadata that Tests/e2e_go/ATTU_CALLS.md lists, on a ClientConn set up
// as the SDK sets up its grpc-js channel. npm cannot be reached in CI, so the SDK itself cannot run;
// this replays what its source sends, and checks every reply against the rows inserted here.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding/gzip"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"vireo-e2e/pb/commonpb"
	"vireo-e2e/pb/milvuspb"
	"vireo-e2e/pb/schemapb"
)

const (
	attuColl     = "attu_items"
	attuDB       = "attu_db"
	attuRows     = 600 // in attu_db; rows 400..599 go to partition p1
	attuPartFrom = 400
	attuDefRows  = 100 // the same collection name in default, with fewer rows
	attuPage     = 100
)

// nodeSDK is the attu session: one grpc-js-like ClientConn and the SDK's per-client metadata map
// (dbname, authorization, identifier), which its interceptor adds to every call.
type nodeSDK struct {
	conn      *grpc.ClientConn
	cli       milvuspb.MilvusServiceClient
	wire      *wireStats
	mu        sync.Mutex
	md        map[string]string
	idleSince time.Time
	rows      []row // attu_db's rows, index == id (tag holds the title)
	collIDs   map[string]int64
}

func (n *nodeSDK) set(k, v string) {
	n.mu.Lock()
	n.md[k] = v
	n.mu.Unlock()
}

// use is the SDK's `use({db_name})`: it only changes the dbname metadata of later calls.
func (n *nodeSDK) use(db string) { n.set("dbname", db) }

// nodeDialOpts are the SDK's channel options (BaseClient.ts): keepalive every 10 s with a 5 s
// timeout, also without calls in flight; unlimited message sizes (-1); its meta interceptor adds
// the client's metadata and the request-metadata interceptor `client-request-unixmsec` to each call.
// grpc-js sends `accept-encoding: identity` and `grpc-accept-encoding: identity,deflate,gzip` as well.
func (n *nodeSDK) dialOpts() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithInsecure(),
		grpc.WithContextDialer(n.wire.dialer()),
		grpc.WithUserAgent("grpc-node-js/1.13.4"),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 10 * time.Second, Timeout: 5 * time.Second, PermitWithoutStream: true}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(math.MaxInt32), grpc.MaxCallSendMsgSize(math.MaxInt32)),
		grpc.WithUnaryInterceptor(func(ctx context.Context, method string, req, reply interface{}, cc *grpc.ClientConn,
			invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			n.mu.Lock()
			kvs := []string{"client-request-unixmsec", fmt.Sprint(time.Now().UnixNano() / 1e6), "accept-encoding", "identity",
				"grpc-accept-encoding", "identity,deflate,gzip"}
			for k, v := range n.md {
				kvs = append(kvs, k, v)
			}
			n.mu.Unlock()
			return invoker(metadata.AppendToOutgoingContext(ctx, kvs...), method, req, reply, cc, opts...)
		}),
	}
}

func (s *smoke) attuStart() error {
	n := &nodeSDK{wire: &wireStats{}, collIDs: map[string]int64{},
		// attu's login form: root / Milvus (the SDK sends base64(user:password) when both are set;
		// Vireo started without --token accepts any).
		md: map[string]string{"dbname": "default", "authorization": base64.StdEncoding.EncodeToString([]byte("root:Milvus"))}}
	var err error
	if n.conn, err = grpc.Dial(s.srv.addr, n.dialOpts()...); err != nil {
		return err
	}
	n.cli = milvuspb.NewMilvusServiceClient(n.conn)
	s.node = n
	ctx, cancel := ctxT(30 * time.Second)
	defer cancel()
	// GRPCClient._getServerInfo: Connect with the SDK's client_info; the identifier it returns is
	// sent as `identifier` metadata from then on.
	r, err := n.cli.Connect(ctx, &milvuspb.ConnectRequest{ClientInfo: &commonpb.ClientInfo{SdkType: "nodejs", SdkVersion: "2.5.9",
		LocalTime: time.Now().Format("2006-01-02 15:04:05.000"), User: "root", Reserved: map[string]string{}}})
	if err := ok("Connect", r.GetStatus(), err); err != nil {
		return err
	}
	if r.GetIdentifier() == 0 || r.GetServerInfo() == nil {
		return fmt.Errorf("Connect: identifier %d, server_info %v (the SDK marks the server UNIMPLEMENTED without them)", r.GetIdentifier(), r.GetServerInfo())
	}
	n.set("identifier", fmt.Sprint(r.GetIdentifier()))
	// attu: checkHealth, then use(db) + listDatabases as its permission probe.
	h, err := n.cli.CheckHealth(ctx, &milvuspb.CheckHealthRequest{})
	if err := ok("CheckHealth", h.GetStatus(), err); err != nil {
		return err
	}
	if !h.GetIsHealthy() {
		return fmt.Errorf("CheckHealth: not healthy")
	}
	n.use("default")
	l, err := n.cli.ListDatabases(ctx, &milvuspb.ListDatabasesRequest{})
	if err := ok("ListDatabases", l.GetStatus(), err); err != nil {
		return err
	}
	if !contains(l.GetDbNames(), "default") {
		return fmt.Errorf("ListDatabases: %v has no default", l.GetDbNames())
	}
	v, err := n.cli.GetVersion(ctx, &milvuspb.GetVersionRequest{})
	if err := ok("GetVersion", v.GetStatus(), err); err != nil {
		return err
	}
	note("identifier %d, server %s, databases %v", r.GetIdentifier(), v.GetVersion(), l.GetDbNames())
	return nil
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// attuDatabases: create a database, then attu's database list (per database: use, ListDatabases,
// ShowCollections, DescribeDatabase).
func (s *smoke) attuDatabases() error {
	n := s.node
	ctx, cancel := ctxT(30 * time.Second)
	defer cancel()
	st, err := n.cli.CreateDatabase(ctx, &milvuspb.CreateDatabaseRequest{DbName: attuDB})
	if err := ok("CreateDatabase", st, err); err != nil {
		return err
	}
	l, err := n.cli.ListDatabases(ctx, &milvuspb.ListDatabasesRequest{})
	if err := ok("ListDatabases", l.GetStatus(), err); err != nil {
		return err
	}
	if len(l.GetDbIds()) != len(l.GetDbNames()) || len(l.GetCreatedTimestamp()) != len(l.GetDbNames()) {
		return fmt.Errorf("ListDatabases: %d names, %d ids, %d timestamps", len(l.GetDbNames()), len(l.GetDbIds()), len(l.GetCreatedTimestamp()))
	}
	for i, db := range l.GetDbNames() {
		n.use(db)
		again, err := n.cli.ListDatabases(ctx, &milvuspb.ListDatabasesRequest{})
		if err := ok("ListDatabases in "+db, again.GetStatus(), err); err != nil {
			return err
		}
		sc, err := n.cli.ShowCollections(ctx, &milvuspb.ShowCollectionsRequest{})
		if err := ok("ShowCollections in "+db, sc.GetStatus(), err); err != nil {
			return err
		}
		d, err := n.cli.DescribeDatabase(ctx, &milvuspb.DescribeDatabaseRequest{DbName: db})
		if err := ok("DescribeDatabase "+db, d.GetStatus(), err); err != nil {
			return err
		}
		if d.GetDbName() != db || d.GetDbID() != l.GetDbIds()[i] {
			return fmt.Errorf("DescribeDatabase %s: name %q id %d, ListDatabases id %d", db, d.GetDbName(), d.GetDbID(), l.GetDbIds()[i])
		}
	}
	if !contains(l.GetDbNames(), attuDB) {
		return fmt.Errorf("ListDatabases: %v has no %s", l.GetDbNames(), attuDB)
	}
	n.use("default")
	return nil
}

// metricsNode is the part of Milvus' SystemTopologyNode that attu reads.
type metricsNode struct {
	Identifier int64 `json:"identifier"`
	Connected  []struct {
		ConnectedIdentifier int64  `json:"connected_identifier"`
		Type                string `json:"type"`
		TargetType          string `json:"target_type"`
	} `json:"connected"`
	Infos struct {
		HasError      bool   `json:"has_error"`
		Name          string `json:"name"`
		Type          string `json:"type"`
		CreatedTime   string `json:"created_time"`
		HardwareInfos struct {
			CPUCoreCount int64 `json:"cpu_core_count"`
			Memory       int64 `json:"memory"`
			MemoryUsage  int64 `json:"memory_usage"`
			Disk         int64 `json:"disk"`
		} `json:"hardware_infos"`
		SystemInfo struct {
			DeployMode   string `json:"deploy_mode"`
			BuildVersion string `json:"build_version"`
		} `json:"system_info"`
		SystemConfigurations map[string]interface{} `json:"system_configurations"`
	} `json:"infos"`
}

// attuSystem: the home, system and user pages (GetMetrics system_info, users, roles, privilege
// groups, resource groups), and the refusal of RBAC writes.
func (s *smoke) attuSystem() error {
	n := s.node
	ctx, cancel := ctxT(30 * time.Second)
	defer cancel()
	m, err := n.cli.GetMetrics(ctx, &milvuspb.GetMetricsRequest{Request: `{"metric_type":"system_info"}`})
	if err := ok("GetMetrics", m.GetStatus(), err); err != nil {
		return err
	}
	var topo struct {
		NodesInfo []metricsNode `json:"nodes_info"`
	}
	if err := json.Unmarshal([]byte(m.GetResponse()), &topo); err != nil {
		return fmt.Errorf("GetMetrics: response is not JSON: %v", err)
	}
	ids := map[int64]string{}
	types := map[string]int{}
	for _, nd := range topo.NodesInfo {
		if _, dup := ids[nd.Identifier]; dup {
			return fmt.Errorf("GetMetrics: identifier %d twice", nd.Identifier)
		}
		ids[nd.Identifier] = nd.Infos.Type
		types[nd.Infos.Type]++
		hw := nd.Infos.HardwareInfos
		if nd.Infos.HasError || hw.CPUCoreCount < 1 || hw.Memory <= 0 || hw.MemoryUsage <= 0 || hw.Disk <= 0 || nd.Infos.SystemConfigurations == nil {
			return fmt.Errorf("GetMetrics: node %s: %+v", nd.Infos.Name, nd.Infos)
		}
		if _, err := time.Parse(time.RFC3339, nd.Infos.CreatedTime); err != nil {
			return fmt.Errorf("GetMetrics: node %s created_time %q: %v", nd.Infos.Name, nd.Infos.CreatedTime, err)
		}
	}
	// attu's parseJson/getNode: coordinators and proxies are drawn, the rest are their children;
	// the home page and load dialog read rootcoord's system_info.
	for _, t := range []string{"proxy", "rootcoord", "querycoord", "datacoord", "querynode", "datanode"} {
		if types[t] != 1 {
			return fmt.Errorf("GetMetrics: %d nodes of type %s (types %v)", types[t], t, types)
		}
	}
	for _, nd := range topo.NodesInfo {
		if nd.Infos.Type == "rootcoord" && (nd.Infos.SystemInfo.DeployMode != "STANDALONE" || nd.Infos.SystemInfo.BuildVersion == "") {
			return fmt.Errorf("GetMetrics: rootcoord system_info %+v", nd.Infos.SystemInfo)
		}
		for _, e := range nd.Connected {
			if ids[e.ConnectedIdentifier] != e.TargetType || (e.Type != "forward" && e.Type != "manage") {
				return fmt.Errorf("GetMetrics: %s's edge %+v names no such node", nd.Infos.Name, e)
			}
		}
	}
	u, err := n.cli.ListCredUsers(ctx, &milvuspb.ListCredUsersRequest{})
	if err := ok("ListCredUsers", u.GetStatus(), err); err != nil {
		return err
	}
	roles, err := n.cli.SelectRole(ctx, &milvuspb.SelectRoleRequest{IncludeUserInfo: true})
	if err := ok("SelectRole", roles.GetStatus(), err); err != nil {
		return err
	}
	user, err := n.cli.SelectUser(ctx, &milvuspb.SelectUserRequest{User: &milvuspb.UserEntity{Name: "root"}, IncludeRoleInfo: true})
	if err := ok("SelectUser", user.GetStatus(), err); err != nil {
		return err
	}
	pg, err := n.cli.ListPrivilegeGroups(ctx, &milvuspb.ListPrivilegeGroupsRequest{})
	if err := ok("ListPrivilegeGroups", pg.GetStatus(), err); err != nil {
		return err
	}
	if len(u.GetUsernames())+len(roles.GetResults())+len(user.GetResults())+len(pg.GetPrivilegeGroups()) != 0 {
		return fmt.Errorf("Vireo has no Milvus users or roles, yet: users %v roles %v user %v groups %v",
			u.GetUsernames(), roles.GetResults(), user.GetResults(), pg.GetPrivilegeGroups())
	}
	grant, err := n.cli.SelectGrant(ctx, &milvuspb.SelectGrantRequest{Entity: &milvuspb.GrantEntity{Role: &milvuspb.RoleEntity{Name: "public"}}})
	if err != nil || grant.GetStatus() == nil || grant.GetStatus().GetCode() == 0 || grant.GetStatus().GetReason() == "" {
		return fmt.Errorf("SelectGrant of an unknown role: %v %v (want a status naming the missing role)", grant.GetStatus(), err)
	}
	cr, err := n.cli.CreateRole(ctx, &milvuspb.CreateRoleRequest{Entity: &milvuspb.RoleEntity{Name: "reader"}})
	if err != nil || cr.GetCode() != 10 || !strings.Contains(cr.GetReason(), "RBAC") {
		return fmt.Errorf("CreateRole: %v %v (want Milvus code 10, service unimplemented, in the status)", cr, err)
	}
	rg, err := n.cli.ListResourceGroups(ctx, &milvuspb.ListResourceGroupsRequest{})
	if err := ok("ListResourceGroups", rg.GetStatus(), err); err != nil {
		return err
	}
	if strings.Join(rg.GetResourceGroups(), ",") != "__default_resource_group" {
		return fmt.Errorf("ListResourceGroups: %v", rg.GetResourceGroups())
	}
	dg, err := n.cli.DescribeResourceGroup(ctx, &milvuspb.DescribeResourceGroupRequest{ResourceGroup: "__default_resource_group"})
	if err := ok("DescribeResourceGroup", dg.GetStatus(), err); err != nil {
		return err
	}
	if g := dg.GetResourceGroup(); g.GetName() != "__default_resource_group" || g.GetNumAvailableNode() != 1 || len(g.GetNodes()) != 1 {
		return fmt.Errorf("DescribeResourceGroup: %v", g)
	}
	bad, err := n.cli.DescribeResourceGroup(ctx, &milvuspb.DescribeResourceGroupRequest{ResourceGroup: "rg_nope"})
	if err != nil || bad.GetStatus().GetCode() != 300 {
		return fmt.Errorf("DescribeResourceGroup of a missing group: %v %v (want Milvus code 300)", bad.GetStatus(), err)
	}
	note("%d topology nodes %v; no users/roles; resource group %v", len(topo.NodesInfo), types, rg.GetResourceGroups())
	return nil
}

func attuSchema() []byte {
	sc := &schemapb.CollectionSchema{Name: attuColl, Description: "attu e2e", Fields: []*schemapb.FieldSchema{
		{Name: "id", IsPrimaryKey: true, DataType: schemapb.DataType_Int64},
		{Name: "title", DataType: schemapb.DataType_VarChar, TypeParams: []*commonpb.KeyValuePair{kv("max_length", "128")}},
		{Name: "vec", DataType: schemapb.DataType_FloatVector, TypeParams: []*commonpb.KeyValuePair{kv("dim", fmt.Sprint(dim))}},
	}}
	b, err := proto.Marshal(sc)
	if err != nil {
		panic(err)
	}
	return b
}

// attuCreate: the same collection name in two databases (create, index the SDK's way, insert,
// flush, load and wait as the SDK's loadCollection does), plus an unloaded one.
func (s *smoke) attuCreate() error {
	n := s.node
	ctx, cancel := ctxT(180 * time.Second)
	defer cancel()
	n.rows = make([]row, attuRows)
	for i := range n.rows {
		n.rows[i] = row{id: int64(i), tag: fmt.Sprintf("t%d-%s", s.rng.Intn(20), colors[s.rng.Intn(len(colors))]), vec: randVec(s.rng)}
	}
	for _, db := range []string{attuDB, "default"} {
		n.use(db)
		st, err := n.cli.CreateCollection(ctx, &milvuspb.CreateCollectionRequest{CollectionName: attuColl, Schema: attuSchema(),
			ShardsNum: 1, ConsistencyLevel: commonpb.ConsistencyLevel_Bounded})
		if err := ok("CreateCollection in "+db, st, err); err != nil {
			return err
		}
		// The SDK's createIndex: index_type, metric_type and the build params as one JSON `params`.
		st, err = n.cli.CreateIndex(ctx, &milvuspb.CreateIndexRequest{CollectionName: attuColl, FieldName: "vec", IndexName: "vec_idx",
			ExtraParams: []*commonpb.KeyValuePair{kv("index_type", "HNSW"), kv("metric_type", "L2"), kv("params", `{"M":16,"efConstruction":128}`)}})
		if err := ok("CreateIndex in "+db, st, err); err != nil {
			return err
		}
		if db == attuDB {
			st, err = n.cli.CreatePartition(ctx, &milvuspb.CreatePartitionRequest{CollectionName: attuColl, PartitionName: "p1"})
			if err := ok("CreatePartition", st, err); err != nil {
				return err
			}
		}
		batches := []struct {
			part   string
			lo, hi int
		}{{"", 0, attuDefRows}}
		if db == attuDB {
			batches = []struct {
				part   string
				lo, hi int
			}{{"", 0, attuPartFrom}, {"p1", attuPartFrom, attuRows}}
		}
		for _, b := range batches {
			r, err := n.cli.Insert(ctx, &milvuspb.InsertRequest{CollectionName: attuColl, PartitionName: b.part,
				FieldsData: attuColumns(n.rows[b.lo:b.hi]), NumRows: uint32(b.hi - b.lo)})
			if err := ok("Insert in "+db, r.GetStatus(), err); err != nil {
				return err
			}
			if r.GetInsertCnt() != int64(b.hi-b.lo) {
				return fmt.Errorf("Insert in %s: insert_cnt %d, want %d", db, r.GetInsertCnt(), b.hi-b.lo)
			}
		}
		f, err := n.cli.Flush(ctx, &milvuspb.FlushRequest{CollectionNames: []string{attuColl}})
		if err := ok("Flush in "+db, f.GetStatus(), err); err != nil {
			return err
		}
		st, err = n.cli.LoadCollection(ctx, &milvuspb.LoadCollectionRequest{CollectionName: attuColl})
		if err := ok("LoadCollection in "+db, st, err); err != nil {
			return err
		}
		for {
			p, err := n.cli.GetLoadingProgress(ctx, &milvuspb.GetLoadingProgressRequest{CollectionName: attuColl})
			if err := ok("GetLoadingProgress", p.GetStatus(), err); err != nil {
				return err
			}
			if p.GetProgress() == 100 {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	n.use(attuDB)
	st, err := n.cli.CreateCollection(ctx, &milvuspb.CreateCollectionRequest{CollectionName: "attu_unloaded", Schema: attuSchemaNamed("attu_unloaded"), ShardsNum: 1})
	return ok("CreateCollection attu_unloaded", st, err)
}

func attuSchemaNamed(name string) []byte {
	var sc schemapb.CollectionSchema
	if err := proto.Unmarshal(attuSchema(), &sc); err != nil {
		panic(err)
	}
	sc.Name = name
	b, _ := proto.Marshal(&sc)
	return b
}

func attuColumns(rows []row) []*schemapb.FieldData {
	cols := columns(rows)
	cols[1].FieldName = "title"
	return cols
}

func statRows(call string, stats []*commonpb.KeyValuePair) (int64, error) {
	var v int64
	if _, err := fmt.Sscan(kvMap(stats)["row_count"], &v); err != nil {
		return 0, fmt.Errorf("%s: row_count in %v: %v", call, stats, err)
	}
	return v, nil
}

// attuCollections: attu's collection list (ShowCollections all and loaded) and one collection's
// page (DescribeCollection, DescribeIndex, GetLoadState, count, statistics, GetReplicas by id).
func (s *smoke) attuCollections() error {
	n := s.node
	ctx, cancel := ctxT(60 * time.Second)
	defer cancel()
	started := time.Now().Add(-10 * time.Minute)
	for _, db := range []string{"default", attuDB} {
		n.use(db)
		all, err := n.cli.ShowCollections(ctx, &milvuspb.ShowCollectionsRequest{DbName: db})
		if err := ok("ShowCollections", all.GetStatus(), err); err != nil {
			return err
		}
		loaded, err := n.cli.ShowCollections(ctx, &milvuspb.ShowCollectionsRequest{DbName: db, Type: milvuspb.ShowType_InMemory})
		if err := ok("ShowCollections(InMemory)", loaded.GetStatus(), err); err != nil {
			return err
		}
		if !contains(loaded.GetCollectionNames(), attuColl) || contains(loaded.GetCollectionNames(), "attu_unloaded") {
			return fmt.Errorf("ShowCollections(InMemory) in %s: %v", db, loaded.GetCollectionNames())
		}
		if db == attuDB && !contains(all.GetCollectionNames(), "attu_unloaded") {
			return fmt.Errorf("ShowCollections in %s: %v has no attu_unloaded", db, all.GetCollectionNames())
		}
		listedID := int64(0)
		for i, name := range all.GetCollectionNames() {
			if name == attuColl {
				listedID = all.GetCollectionIds()[i]
			}
		}
		d, err := n.cli.DescribeCollection(ctx, &milvuspb.DescribeCollectionRequest{DbName: db, CollectionName: attuColl})
		if err := ok("DescribeCollection", d.GetStatus(), err); err != nil {
			return err
		}
		created := time.Unix(0, int64(d.GetCreatedUtcTimestamp())*int64(time.Millisecond))
		if d.GetCollectionID() == 0 || d.GetCollectionID() != listedID || created.Before(started) || created.After(time.Now()) {
			return fmt.Errorf("DescribeCollection in %s: id %d (ShowCollections %d), created_utc_timestamp %v", db, d.GetCollectionID(), listedID, created)
		}
		var fields []string
		for _, f := range d.GetSchema().GetFields() {
			fields = append(fields, fmt.Sprintf("%s:%v:%v", f.GetName(), f.GetDataType(), kvMap(f.GetTypeParams())))
		}
		want := fmt.Sprintf("id:Int64:map[] title:VarChar:map[max_length:128] vec:FloatVector:map[dim:%d]", dim)
		if strings.Join(fields, " ") != want || d.GetSchema().GetDescription() != "attu e2e" || d.GetDbName() != db {
			return fmt.Errorf("DescribeCollection in %s: fields %v description %q db %q", db, fields, d.GetSchema().GetDescription(), d.GetDbName())
		}
		n.collIDs[db] = d.GetCollectionID()
		ix, err := n.cli.DescribeIndex(ctx, &milvuspb.DescribeIndexRequest{CollectionName: attuColl})
		if err := ok("DescribeIndex", ix.GetStatus(), err); err != nil {
			return err
		}
		if len(ix.GetIndexDescriptions()) != 1 {
			return fmt.Errorf("DescribeIndex: %v", ix.GetIndexDescriptions())
		}
		// attu's describeIndex: index_type, metric_type, and the build parameters from the other pairs
		// plus those inside a JSON `params` pair (Milvus sends the latter; either shape reads the same).
		p := kvMap(ix.GetIndexDescriptions()[0].GetParams())
		build := map[string]interface{}{}
		for k, v := range p {
			if k != "index_type" && k != "metric_type" && k != "params" {
				build[k] = v
			}
		}
		if js, found := p["params"]; found {
			if err := json.Unmarshal([]byte(js), &build); err != nil {
				return fmt.Errorf("DescribeIndex: params %q is not JSON: %v", js, err)
			}
		}
		if p["index_type"] != "HNSW" || p["metric_type"] != "L2" || fmt.Sprint(build["M"]) != "16" || fmt.Sprint(build["efConstruction"]) != "128" ||
			ix.GetIndexDescriptions()[0].GetFieldName() != "vec" {
			return fmt.Errorf("DescribeIndex params %v (attu reads index_type, metric_type and the build params)", p)
		}
		ls, err := n.cli.GetLoadState(ctx, &milvuspb.GetLoadStateRequest{CollectionName: attuColl})
		if err := ok("GetLoadState", ls.GetStatus(), err); err != nil {
			return err
		}
		if ls.GetState() != commonpb.LoadState_LoadStateLoaded {
			return fmt.Errorf("GetLoadState: %v", ls.GetState())
		}
		wantRows := int64(attuDefRows)
		if db == attuDB {
			wantRows = attuRows
		}
		if c, err := s.attuCount(""); err != nil || c != wantRows {
			return fmt.Errorf("count(*) in %s: %d, %v; want %d", db, c, err, wantRows)
		}
		stats, err := n.cli.GetCollectionStatistics(ctx, &milvuspb.GetCollectionStatisticsRequest{CollectionName: attuColl})
		if err := ok("GetCollectionStatistics", stats.GetStatus(), err); err != nil {
			return err
		}
		if c, err := statRows("GetCollectionStatistics", stats.GetStats()); err != nil || c != wantRows {
			return fmt.Errorf("GetCollectionStatistics in %s: %d, %v; want %d", db, c, err, wantRows)
		}
		// attu asks for replicas by the id DescribeCollection gave it.
		rep, err := n.cli.GetReplicas(ctx, &milvuspb.GetReplicasRequest{CollectionID: d.GetCollectionID(), DbName: db})
		if err := ok("GetReplicas", rep.GetStatus(), err); err != nil {
			return err
		}
		if len(rep.GetReplicas()) != 1 || rep.GetReplicas()[0].GetCollectionID() != d.GetCollectionID() {
			return fmt.Errorf("GetReplicas(collectionID %d) in %s: %v", d.GetCollectionID(), db, rep.GetReplicas())
		}
	}
	if n.collIDs["default"] == n.collIDs[attuDB] {
		return fmt.Errorf("%s has collectionID %d in both databases", attuColl, n.collIDs[attuDB])
	}
	note("collectionID %d in default, %d in %s", n.collIDs["default"], n.collIDs[attuDB], attuDB)
	return nil
}

func (s *smoke) attuCount(expr string, parts ...string) (int64, error) {
	ctx, cancel := ctxT(60 * time.Second)
	defer cancel()
	// The SDK's count(): Query with output_fields ["count(*)"], the filter as expr, query_params {}.
	r, err := s.node.cli.Query(ctx, &milvuspb.QueryRequest{CollectionName: attuColl, Expr: expr, OutputFields: []string{"count(*)"},
		PartitionNames: parts, QueryParams: []*commonpb.KeyValuePair{}})
	if err := ok("Query count(*)", r.GetStatus(), err); err != nil {
		return 0, err
	}
	if len(r.GetFieldsData()) != 1 || len(r.GetFieldsData()[0].GetScalars().GetLongData().GetData()) != 1 {
		return 0, fmt.Errorf("count(*): fields %v", r.GetFieldsData())
	}
	return r.GetFieldsData()[0].GetScalars().GetLongData().GetData()[0], nil
}

// attuSegments: the partitions tab (ShowPartitions, GetPartitionStatistics) and the segments tab
// (GetQuerySegmentInfo, GetPersistentSegmentInfo): every segment names this collection and one of
// its partitions, and the rows add up to each partition's count.
func (s *smoke) attuSegments() error {
	n := s.node
	n.use(attuDB)
	ctx, cancel := ctxT(60 * time.Second)
	defer cancel()
	sp, err := n.cli.ShowPartitions(ctx, &milvuspb.ShowPartitionsRequest{CollectionName: attuColl})
	if err := ok("ShowPartitions", sp.GetStatus(), err); err != nil {
		return err
	}
	wantRows := map[string]int64{"_default": attuPartFrom, "p1": attuRows - attuPartFrom}
	idToName := map[int64]string{}
	for i, name := range sp.GetPartitionNames() {
		idToName[sp.GetPartitionIDs()[i]] = name
		ps, err := n.cli.GetPartitionStatistics(ctx, &milvuspb.GetPartitionStatisticsRequest{CollectionName: attuColl, PartitionName: name})
		if err := ok("GetPartitionStatistics "+name, ps.GetStatus(), err); err != nil {
			return err
		}
		if c, err := statRows("GetPartitionStatistics", ps.GetStats()); err != nil || c != wantRows[name] {
			return fmt.Errorf("GetPartitionStatistics %s: %d, %v; want %d", name, c, err, wantRows[name])
		}
	}
	if len(idToName) != 2 || len(sp.GetPartitionNames()) != 2 {
		return fmt.Errorf("ShowPartitions: names %v ids %v", sp.GetPartitionNames(), sp.GetPartitionIDs())
	}
	rep, err := n.cli.GetReplicas(ctx, &milvuspb.GetReplicasRequest{CollectionName: attuColl})
	if err := ok("GetReplicas", rep.GetStatus(), err); err != nil {
		return err
	}
	for _, id := range rep.GetReplicas()[0].GetPartitionIds() {
		if idToName[id] == "" {
			return fmt.Errorf("GetReplicas: partition id %d is not one of ShowPartitions' %v", id, sp.GetPartitionIDs())
		}
	}
	q, err := n.cli.GetQuerySegmentInfo(ctx, &milvuspb.GetQuerySegmentInfoRequest{CollectionName: attuColl})
	if err := ok("GetQuerySegmentInfo", q.GetStatus(), err); err != nil {
		return err
	}
	got := map[string]int64{}
	for _, info := range q.GetInfos() {
		name := idToName[info.GetPartitionID()]
		if info.GetCollectionID() != n.collIDs[attuDB] || name == "" || info.GetNumRows() <= 0 {
			return fmt.Errorf("GetQuerySegmentInfo: segment %d collection %d (want %d) partition %d (ids %v) rows %d",
				info.GetSegmentID(), info.GetCollectionID(), n.collIDs[attuDB], info.GetPartitionID(), sp.GetPartitionIDs(), info.GetNumRows())
		}
		got[name] += info.GetNumRows()
	}
	if got["_default"] != wantRows["_default"] || got["p1"] != wantRows["p1"] {
		return fmt.Errorf("GetQuerySegmentInfo: rows per partition %v, want %v", got, wantRows)
	}
	ps, err := n.cli.GetPersistentSegmentInfo(ctx, &milvuspb.GetPersistentSegmentInfoRequest{CollectionName: attuColl})
	if err := ok("GetPersistentSegmentInfo", ps.GetStatus(), err); err != nil {
		return err
	}
	got = map[string]int64{}
	for _, info := range ps.GetInfos() {
		name := idToName[info.GetPartitionID()]
		if info.GetCollectionID() != n.collIDs[attuDB] || name == "" {
			return fmt.Errorf("GetPersistentSegmentInfo: segment %d collection %d partition %d", info.GetSegmentID(), info.GetCollectionID(), info.GetPartitionID())
		}
		got[name] += info.GetNumRows()
	}
	if got["_default"] != wantRows["_default"] || got["p1"] != wantRows["p1"] {
		return fmt.Errorf("GetPersistentSegmentInfo: rows per partition %v, want %v", got, wantRows)
	}
	note("%d query segments, %d persistent; rows per partition %v", len(q.GetInfos()), len(ps.GetInfos()), got)
	// attu's compact button: the SDK describes the collection and sends its collectionID.
	mc, err := n.cli.ManualCompaction(ctx, &milvuspb.ManualCompactionRequest{CollectionID: n.collIDs[attuDB]})
	if err := ok("ManualCompaction by collectionID", mc.GetStatus(), err); err != nil {
		return err
	}
	for {
		cs, err := n.cli.GetCompactionState(ctx, &milvuspb.GetCompactionStateRequest{CompactionID: mc.GetCompactionID()})
		if err := ok("GetCompactionState", cs.GetStatus(), err); err != nil {
			return err
		}
		if cs.GetState() == commonpb.CompactionState_Completed {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if c, err := s.attuCount("", "p1"); err != nil || c != wantRows["p1"] {
		return fmt.Errorf("count(*) of p1 after compaction: %d, %v", c, err)
	}
	return nil
}

// attuBrowse: the data tab. The SDK's query(): output_fields ["*"] unless named, limit and offset in
// query_params; attu pages with them. Every page must hold exact rows, and the pages together every
// row that passes the filter, once.
func (s *smoke) attuBrowse() error {
	n := s.node
	n.use(attuDB)
	ctx, cancel := ctxT(60 * time.Second)
	defer cancel()
	expr := "id >= 0"
	seen := map[int64]bool{}
	for offset := 0; offset < attuRows+attuPage; offset += attuPage {
		r, err := n.cli.Query(ctx, &milvuspb.QueryRequest{CollectionName: attuColl, Expr: expr, OutputFields: []string{"*"},
			QueryParams: []*commonpb.KeyValuePair{kv("limit", fmt.Sprint(attuPage)), kv("offset", fmt.Sprint(offset))},
			ConsistencyLevel: commonpb.ConsistencyLevel_Bounded})
		if err := ok(fmt.Sprintf("Query offset %d", offset), r.GetStatus(), err); err != nil {
			return err
		}
		var ids []int64
		var titles []string
		var vecs []float32
		for _, f := range r.GetFieldsData() {
			switch f.GetFieldName() {
			case "id":
				ids = f.GetScalars().GetLongData().GetData()
			case "title":
				titles = f.GetScalars().GetStringData().GetData()
			case "vec":
				vecs = f.GetVectors().GetFloatVector().GetData()
			}
		}
		wantN := attuPage
		if offset >= attuRows {
			wantN = 0
		}
		if len(ids) != wantN || len(titles) != len(ids) || len(vecs) != dim*len(ids) {
			return fmt.Errorf("Query offset %d: %d ids, %d titles, %d floats; want %d rows with every field", offset, len(ids), len(titles), len(vecs), wantN)
		}
		for i, id := range ids {
			if id < 0 || id >= attuRows || seen[id] {
				return fmt.Errorf("Query offset %d: id %d unexpected or on an earlier page", offset, id)
			}
			seen[id] = true
			w := n.rows[id]
			if titles[i] != w.tag {
				return fmt.Errorf("Query: id %d title %q, want %q", id, titles[i], w.tag)
			}
			for j := 0; j < dim; j++ {
				if vecs[dim*i+j] != w.vec[j] {
					return fmt.Errorf("Query: id %d vec[%d] %v, want %v", id, j, vecs[dim*i+j], w.vec[j])
				}
			}
		}
	}
	if len(seen) != attuRows {
		return fmt.Errorf("pages held %d distinct rows, want %d", len(seen), attuRows)
	}
	filter := `title like "t1%"`
	want := int64(0)
	for _, r := range n.rows {
		if strings.HasPrefix(r.tag, "t1") {
			want++
		}
	}
	if c, err := s.attuCount(filter); err != nil || c != want {
		return fmt.Errorf("count(*) where %s: %d, %v; want %d", filter, c, err, want)
	}
	if c, err := s.attuCount("", "p1"); err != nil || c != attuRows-attuPartFrom {
		return fmt.Errorf("count(*) of p1: %d, %v", c, err)
	}
	note("%d pages of %d, every row once and exact; count where %s = %d", (attuRows+attuPage-1)/attuPage, attuPage, filter, want)
	return nil
}

// attuSearch: the vector search tab, shaped as the SDK's search() builds it: search_params with
// anns_field, topk, offset, an empty metric_type (the index's), ignore_growing, the params JSON and
// each param again as its own pair; dsl_type BoolExprV1; the collection's consistency level.
func (s *smoke) attuSearch() error {
	n := s.node
	n.use(attuDB)
	ctx, cancel := ctxT(60 * time.Second)
	defer cancel()
	byID := map[int64]row{}
	for _, r := range n.rows {
		byID[r.id] = r
	}
	cases := []struct {
		filter string
		parts  []string
		keep   func(row) bool
	}{
		{"", nil, func(row) bool { return true }},
		{`title like "t1%"`, nil, func(r row) bool { return strings.HasPrefix(r.tag, "t1") }},
		{"", []string{"p1"}, func(r row) bool { return r.id >= attuPartFrom }},
	}
	var recall float64
	nq := 0
	for _, c := range cases {
		for i := 0; i < 5; i++ {
			q := randVec(s.rng)
			req := &milvuspb.SearchRequest{CollectionName: attuColl, PartitionNames: c.parts, Dsl: c.filter, DslType: commonpb.DslType_BoolExprV1,
				SearchInput: &milvuspb.SearchRequest_PlaceholderGroup{PlaceholderGroup: placeholder([][]float32{q})},
				OutputFields: []string{"title", "vec"}, Nq: 1, ConsistencyLevel: commonpb.ConsistencyLevel_Bounded,
				SearchParams: []*commonpb.KeyValuePair{kv("anns_field", "vec"), kv("params", `{"ef":64}`), kv("topk", "10"), kv("offset", "0"),
					kv("metric_type", ""), kv("ignore_growing", "false"), kv("ef", "64")}}
			res, err := n.cli.Search(ctx, req)
			if err := ok("Search", res.GetStatus(), err); err != nil {
				return err
			}
			tagged := res
			for _, f := range tagged.GetResults().GetFieldsData() {
				if f.GetFieldName() == "title" {
					f.FieldName = "tag"
				}
			}
			got, err := hits(tagged, 1)
			if err != nil {
				return fmt.Errorf("Search %q %v: %v", c.filter, c.parts, err)
			}
			r, err := checkHits(got[0], q, exact(n.rows, q, 10, c.keep), byID, c.keep, true)
			if err != nil {
				return fmt.Errorf("Search %q %v: %v", c.filter, c.parts, err)
			}
			recall += r
			nq++
		}
	}
	if recall/float64(nq) < 0.9 {
		return fmt.Errorf("HNSW recall@10 %.3f over %d queries, want >= 0.9", recall/float64(nq), nq)
	}
	note("%d searches (plain, filtered, one partition): recall@10 %.3f, every score the exact L2 distance", nq, recall/float64(nq))
	n.idleSince = time.Now()
	return nil
}

// attuKeepalive runs after the other steps left attu's connection idle: grpc-js' keepalive (every
// 10 s, permitted without calls) must be ACKed with no GOAWAY (no ENHANCE_YOUR_CALM/too_many_pings)
// and no reconnect. A gzip-compressed request (the SDK never sends one, grpc-js can be told to) is
// refused cleanly on its stream, and the connection keeps serving.
func (s *smoke) attuKeepalive() error {
	n := s.node
	for time.Since(n.idleSince) < 25*time.Second {
		if w := n.wire.snapshot(); w.ClientKeepalivePings >= 2 && w.ServerPingAcks >= w.ClientPings {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	w := n.wire.snapshot()
	note("attu conn idle %.1f s: %d PINGs (%d keepalive), %d ACKed, GOAWAYs %v, dials %d",
		time.Since(n.idleSince).Seconds(), w.ClientPings, w.ClientKeepalivePings, w.ServerPingAcks, w.ServerGoAways, w.Dials)
	if w.ClientKeepalivePings < 1 || w.ServerPingAcks < w.ClientPings-1 {
		return fmt.Errorf("keepalive: %d keepalive PINGs, %d of %d PINGs ACKed", w.ClientKeepalivePings, w.ServerPingAcks, w.ClientPings)
	}
	if len(w.ServerGoAways) != 0 || w.Dials != 1 {
		return fmt.Errorf("keepalive: GOAWAYs %v, %d dials", w.ServerGoAways, w.Dials)
	}
	ctx, cancel := ctxT(30 * time.Second)
	defer cancel()
	_, err := n.cli.GetVersion(ctx, &milvuspb.GetVersionRequest{}, grpc.UseCompressor(gzip.Name))
	if status.Code(err) != codes.Unimplemented || !strings.Contains(status.Convert(err).Message(), "identity") {
		return fmt.Errorf("a gzip-compressed request: %v (want UNIMPLEMENTED naming identity)", err)
	}
	v, err := n.cli.GetVersion(ctx, &milvuspb.GetVersionRequest{})
	if err := ok("GetVersion after", v.GetStatus(), err); err != nil {
		return err
	}
	if d := n.wire.snapshot().Dials; d != 1 {
		return fmt.Errorf("the attu ClientConn reconnected (%d dials)", d)
	}
	return nil
}

// attuCleanup: attu's drop collection and drop database; the default database's copy goes too.
func (s *smoke) attuCleanup() error {
	n := s.node
	ctx, cancel := ctxT(60 * time.Second)
	defer cancel()
	for _, c := range []struct{ db, coll string }{{attuDB, attuColl}, {attuDB, "attu_unloaded"}, {"default", attuColl}} {
		n.use(c.db)
		st, err := n.cli.DropCollection(ctx, &milvuspb.DropCollectionRequest{CollectionName: c.coll})
		if err := ok("DropCollection "+c.db+"."+c.coll, st, err); err != nil {
			return err
		}
	}
	n.use("default")
	st, err := n.cli.DropDatabase(ctx, &milvuspb.DropDatabaseRequest{DbName: attuDB})
	if err := ok("DropDatabase", st, err); err != nil {
		return err
	}
	l, err := n.cli.ListDatabases(ctx, &milvuspb.ListDatabasesRequest{})
	if err := ok("ListDatabases", l.GetStatus(), err); err != nil {
		return err
	}
	if contains(l.GetDbNames(), attuDB) {
		return fmt.Errorf("ListDatabases after DropDatabase: %v", l.GetDbNames())
	}
	names := append([]string(nil), l.GetDbNames()...)
	sort.Strings(names)
	note("databases left: %v", names)
	return nil
}
