import Vireo

/// Milvus RESTful API v2 `users/*` and `roles/*`, answered as the gRPC RBAC calls are
/// (`MilvusGRPCService+Admin.swift`): Vireo has no Milvus users or roles, so the lists are empty,
/// a describe names what does not exist, and every write is refused with code 10 and a message
/// that says how access is configured instead. A route that answered 404 would read as "wrong URL"
/// to a client; this says what is not served and why.
extension RESTEndpoints {
    var accessRoutes: [(String, Endpoint)] {
        let refused = [
            "users/create", "users/drop", "users/update_password", "users/grant_role", "users/revoke_role",
            "roles/create", "roles/drop", "roles/grant_privilege", "roles/revoke_privilege",
            "roles/grant_privilege_v2", "roles/revoke_privilege_v2",
            "privilege_groups/create", "privilege_groups/drop",
            "privilege_groups/add_privileges_to_group", "privilege_groups/remove_privileges_from_group",
        ]
        return [
            ("users/list", { _ in Self.emptyList }),
            ("roles/list", { _ in Self.emptyList }),
            ("privilege_groups/list", { _ in Self.emptyList }),
            ("users/describe", describeUser),
            ("roles/describe", describeRole),
        ] + refused.map { route in (route, { _ throws in throw APIError.noRBAC(route) }) }
    }

    private static var emptyList: RESTReply {
        var w = JSONWriter()
        w.raw("[]")
        return RESTReply(data: w.bytes)
    }

    func describeUser(_ c: RESTCall) async throws -> RESTReply {
        let user = try c.body.requiredString("userName")
        throw APIError(.unexpected, "user not found[user=\(user)]: Vireo has no Milvus users; its credentials come from `vireo serve --token` / `--tokens-file`")
    }

    func describeRole(_ c: RESTCall) async throws -> RESTReply {
        let role = try c.body.requiredString("roleName")
        throw APIError(.unexpected, "not found the role, maybe the role isn't existed or internal system error[role=\(role)] (Vireo has no roles: its credentials grant the whole API)")
    }
}
