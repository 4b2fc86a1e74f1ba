import Foundation
import GRPCCore
import Vireo
import VireoMilvusProto

/// `MilvusService` RPCs of Milvus' admin pages: resource groups and users/roles, as attu and the Node
/// SDK (`@zilliz/milvus2-sdk-node`) call them (`Tests/e2e_go/ATTU_CALLS.md` lists every call).
///
/// Vireo is one node in one resource group, and it has no users, roles, grants or privilege groups of
/// Milvus' kind: its bearer tokens are not RBAC principals. The reads answer exactly that, with the
/// success status Milvus sends (a Milvus reply always carries `status`; the Node SDK throws without
/// one). The writes cannot be honoured, so they are refused with Milvus' `service unimplemented`
/// (code 10) and a reason saying what Vireo has instead, never a silent success.
extension MilvusGRPCService {
    // MARK: Resource groups

    func listResourceGroups(request: Milvus_Proto_Milvus_ListResourceGroupsRequest, context: ServerContext) async throws -> Milvus_Proto_Milvus_ListResourceGroupsResponse {
        await call("ListResourceGroups", checkDatabase: false) {
            var r = Milvus_Proto_Milvus_ListResourceGroupsResponse()
            r.resourceGroups = [MilvusHandlers.defaultResourceGroup]
            return r
        }
    }

    /// The default group: this process as its one node, and one replica of every loaded collection
    /// of the request's database (Milvus keys `num_loaded_replica` by collection name).
    func describeResourceGroup(request: Milvus_Proto_Milvus_DescribeResourceGroupRequest, context: ServerContext) async throws -> Milvus_Proto_Milvus_DescribeResourceGroupResponse {
        await call("DescribeResourceGroup") {
            guard request.resourceGroup == MilvusHandlers.defaultResourceGroup else {
                throw APIError(.resourceGroupNotFound, "resource group not found[rg=\(request.resourceGroup.prefix(256))]")
            }
            var group = Milvus_Proto_Milvus_ResourceGroup()
            group.name = MilvusHandlers.defaultResourceGroup
            group.capacity = 1
            group.numAvailableNode = 1
            group.numLoadedReplica = Dictionary(handlers.loadedCollections().map { ($0, Int32(1)) }, uniquingKeysWith: { a, _ in a })
            var node = Milvus_Proto_Common_NodeInfo()
            node.nodeID = 1
            node.hostname = ProcessInfo.processInfo.hostName
            group.nodes = [node]
            var r = Milvus_Proto_Milvus_DescribeResourceGroupResponse()
            r.resourceGroup = group
            return r
        }
    }

    func createResourceGroup(request: Milvus_Proto_Milvus_CreateResourceGroupRequest, context: ServerContext) async throws -> PStatus {
        await call("CreateResourceGroup", checkDatabase: false) { throw Self.singleNode("CreateResourceGroup") }
    }

    func dropResourceGroup(request: Milvus_Proto_Milvus_DropResourceGroupRequest, context: ServerContext) async throws -> PStatus {
        await call("DropResourceGroup", checkDatabase: false) { throw Self.singleNode("DropResourceGroup") }
    }

    func transferNode(request: Milvus_Proto_Milvus_TransferNodeRequest, context: ServerContext) async throws -> PStatus {
        await call("TransferNode", checkDatabase: false) { throw Self.singleNode("TransferNode") }
    }

    func transferReplica(request: Milvus_Proto_Milvus_TransferReplicaRequest, context: ServerContext) async throws -> PStatus {
        await call("TransferReplica", checkDatabase: false) { throw Self.singleNode("TransferReplica") }
    }

    // MARK: Users and roles (reads)

    /// No users: Milvus answers a user it does not know with success and no results, and Vireo knows
    /// none (`ListCredUsers` is empty too).
    func selectUser(request: Milvus_Proto_Milvus_SelectUserRequest, context: ServerContext) async throws -> Milvus_Proto_Milvus_SelectUserResponse {
        await call("SelectUser", checkDatabase: false) {
            if request.hasUser, request.user.name.isEmpty { throw APIError.invalid("the user name in the user entity is empty; omit `user` to list all users") }
            return Milvus_Proto_Milvus_SelectUserResponse()
        }
    }

    /// No roles (attu's `listRoles` and `hasRole` send this): success and no results, as Milvus
    /// answers for a role it does not know.
    func selectRole(request: Milvus_Proto_Milvus_SelectRoleRequest, context: ServerContext) async throws -> Milvus_Proto_Milvus_SelectRoleResponse {
        await call("SelectRole", checkDatabase: false) {
            if request.hasRole, request.role.name.isEmpty { throw APIError.invalid("the role name in the role entity is empty; omit `role` to list all roles") }
            return Milvus_Proto_Milvus_SelectRoleResponse()
        }
    }

    /// Grants belong to a role, and no role exists: Milvus' rootcoord refuses a grant query for an
    /// unknown role with these messages.
    func selectGrant(request: Milvus_Proto_Milvus_SelectGrantRequest, context: ServerContext) async throws -> Milvus_Proto_Milvus_SelectGrantResponse {
        await call("SelectGrant", checkDatabase: false) {
            guard request.hasEntity else { throw APIError(.unexpected, "the grant entity in the request is nil") }
            guard request.entity.hasRole else { throw APIError(.unexpected, "the role entity is nil") }
            guard !request.entity.role.name.isEmpty else { throw APIError(.unexpected, "the name in the role entity is empty") }
            throw APIError(.unexpected, "not found the role, maybe the role isn't existed or internal system error (Vireo has no roles: its tokens are not Milvus users)")
        }
    }

    /// No privilege groups: Vireo's tokens grant everything, so there is nothing to group.
    func listPrivilegeGroups(request: Milvus_Proto_Milvus_ListPrivilegeGroupsRequest, context: ServerContext) async throws -> Milvus_Proto_Milvus_ListPrivilegeGroupsResponse {
        await call("ListPrivilegeGroups", checkDatabase: false) { Milvus_Proto_Milvus_ListPrivilegeGroupsResponse() }
    }

    // MARK: Users and roles (writes: refused)

    func createCredential(request: Milvus_Proto_Milvus_CreateCredentialRequest, context: ServerContext) async throws -> PStatus {
        await call("CreateCredential", checkDatabase: false) { throw Self.noRBAC("CreateCredential") }
    }

    func updateCredential(request: Milvus_Proto_Milvus_UpdateCredentialRequest, context: ServerContext) async throws -> PStatus {
        await call("UpdateCredential", checkDatabase: false) { throw Self.noRBAC("UpdateCredential") }
    }

    func deleteCredential(request: Milvus_Proto_Milvus_DeleteCredentialRequest, context: ServerContext) async throws -> PStatus {
        await call("DeleteCredential", checkDatabase: false) { throw Self.noRBAC("DeleteCredential") }
    }

    func createRole(request: Milvus_Proto_Milvus_CreateRoleRequest, context: ServerContext) async throws -> PStatus {
        await call("CreateRole", checkDatabase: false) { throw Self.noRBAC("CreateRole") }
    }

    func dropRole(request: Milvus_Proto_Milvus_DropRoleRequest, context: ServerContext) async throws -> PStatus {
        await call("DropRole", checkDatabase: false) { throw Self.noRBAC("DropRole") }
    }

    func operateUserRole(request: Milvus_Proto_Milvus_OperateUserRoleRequest, context: ServerContext) async throws -> PStatus {
        await call("OperateUserRole", checkDatabase: false) { throw Self.noRBAC("OperateUserRole") }
    }

    func operatePrivilege(request: Milvus_Proto_Milvus_OperatePrivilegeRequest, context: ServerContext) async throws -> PStatus {
        await call("OperatePrivilege", checkDatabase: false) { throw Self.noRBAC("OperatePrivilege") }
    }

    func operatePrivilegeV2(request: Milvus_Proto_Milvus_OperatePrivilegeV2Request, context: ServerContext) async throws -> PStatus {
        await call("OperatePrivilegeV2", checkDatabase: false) { throw Self.noRBAC("OperatePrivilegeV2") }
    }

    func createPrivilegeGroup(request: Milvus_Proto_Milvus_CreatePrivilegeGroupRequest, context: ServerContext) async throws -> PStatus {
        await call("CreatePrivilegeGroup", checkDatabase: false) { throw Self.noRBAC("CreatePrivilegeGroup") }
    }

    func dropPrivilegeGroup(request: Milvus_Proto_Milvus_DropPrivilegeGroupRequest, context: ServerContext) async throws -> PStatus {
        await call("DropPrivilegeGroup", checkDatabase: false) { throw Self.noRBAC("DropPrivilegeGroup") }
    }

    func operatePrivilegeGroup(request: Milvus_Proto_Milvus_OperatePrivilegeGroupRequest, context: ServerContext) async throws -> PStatus {
        await call("OperatePrivilegeGroup", checkDatabase: false) { throw Self.noRBAC("OperatePrivilegeGroup") }
    }

    // MARK: Refusals

    static func noRBAC(_ method: String) -> APIError { APIError.noRBAC(method) }

    static func singleNode(_ method: String) -> APIError {
        APIError(.serviceUnimplemented, """
            service unimplemented: \(method) manages resource groups; a Vireo server is one node in one group \
            (\(MilvusHandlers.defaultResourceGroup)), which holds one replica of every loaded collection
            """)
    }
}

extension Milvus_Proto_Milvus_ListResourceGroupsResponse: MilvusStatusResponse { var milvusStatus: PStatus { get { status } set { status = newValue } }; var hasMilvusStatus: Bool { hasStatus } }
extension Milvus_Proto_Milvus_DescribeResourceGroupResponse: MilvusStatusResponse { var milvusStatus: PStatus { get { status } set { status = newValue } }; var hasMilvusStatus: Bool { hasStatus } }
extension Milvus_Proto_Milvus_SelectUserResponse: MilvusStatusResponse { var milvusStatus: PStatus { get { status } set { status = newValue } }; var hasMilvusStatus: Bool { hasStatus } }
extension Milvus_Proto_Milvus_SelectRoleResponse: MilvusStatusResponse { var milvusStatus: PStatus { get { status } set { status = newValue } }; var hasMilvusStatus: Bool { hasStatus } }
extension Milvus_Proto_Milvus_SelectGrantResponse: MilvusStatusResponse { var milvusStatus: PStatus { get { status } set { status = newValue } }; var hasMilvusStatus: Bool { hasStatus } }
extension Milvus_Proto_Milvus_ListPrivilegeGroupsResponse: MilvusStatusResponse { var milvusStatus: PStatus { get { status } set { status = newValue } }; var hasMilvusStatus: Bool { hasStatus } }
