"""flowport serves MLflow's basic-auth user API at MLflow's own paths and methods (MLflow defines them
in `mlflow/server/auth/routes.py`, outside its protos), so its AuthServiceClient works unchanged."""

from __future__ import annotations

from mlflow.server.auth import routes

from flowport.v1.http_rules import all_rules

# (path, method) as mlflow 3.17.2's AuthServiceClient and UI call them → our RPC.
MLFLOW_USER_API = {
    (routes.CREATE_USER, "POST"): "CreateUser",
    (routes.GET_USER, "GET"): "GetUser",
    (routes.GET_CURRENT_USER, "GET"): "GetCurrentUser",
    (routes.LIST_USERS, "GET"): "ListUsers",
    (routes.UPDATE_USER_PASSWORD, "PATCH"): "UpdateUserPassword",
    (routes.UPDATE_USER_ADMIN, "PATCH"): "UpdateUserAdmin",
    (routes.DELETE_USER, "DELETE"): "DeleteUser",
    (routes.GRANT_USER_PERMISSION, "POST"): "GrantUserPermission",
    (routes.REVOKE_USER_PERMISSION, "POST"): "RevokeUserPermission",
    (routes.GET_USER_PERMISSION, "GET"): "GetUserPermission",
}


def test_the_user_api_is_at_mlflows_paths():
    ours = {
        (r.template, r.http_method): r.rpc
        for r in all_rules()
        if r.method.containing_service.name == "AuthService"
    }
    for key, rpc in MLFLOW_USER_API.items():
        assert ours.get(key) == rpc, key
