"""Azure errors become one sentence with the ARM code, message, HTTP status and request id."""
from ansible_collections.vmss.rollout.plugins.module_utils.errors import VmssConflict, VmssError, from_azure_error


class Response:
    def __init__(self, status, headers):
        self.status_code = status
        self.headers = headers


class OData:
    def __init__(self, code, message):
        self.code = code
        self.message = message


class HttpResponseError(Exception):
    def __init__(self, status, code, message, request_id):
        super().__init__("(%s) %s\nCode: %s\nMessage: %s" % (code, message, code, message))
        self.status_code = status
        self.response = Response(status, {"x-ms-request-id": request_id})
        self.error = OData(code, message)
        self.message = str(self)


def test_not_found_sentence():
    err = from_azure_error(HttpResponseError(404, "ResourceNotFound", "The Resource 'x' was not found.", "rid-1"),
                           "read scale set rg/web")
    assert isinstance(err, VmssError)
    assert err.msg == ("Could not read scale set rg/web: ResourceNotFound: The Resource 'x' was not found. "
                       "(HTTP 404, request id rid-1)")
    assert (err.code, err.status, err.request_id) == ("ResourceNotFound", 404, "rid-1")
    assert err.as_result() == {"error_code": "ResourceNotFound", "request_id": "rid-1", "status_code": 404}


def test_precondition_failed_is_a_conflict():
    err = from_azure_error(HttpResponseError(412, "PreconditionFailed", "Etag mismatch", "r"), "update")
    assert isinstance(err, VmssConflict)


def test_error_without_odata_uses_first_line():
    class Weird(Exception):
        error = None
        response = None

    err = from_azure_error(Weird("(Boom) it broke\nCode: Boom\nMessage: it broke"), "do it")
    assert err.msg == "Could not do it: (Boom) it broke"


def test_connection_error_and_auth_error():
    class ServiceRequestError(Exception):
        response = None

    class ClientAuthenticationError(Exception):
        response = None

    assert from_azure_error(ServiceRequestError("Connection refused"), "read x").msg == (
        "Could not read x: ServiceRequestError: cannot reach the endpoint: Connection refused")
    assert from_azure_error(ClientAuthenticationError("AADSTS7000215: Invalid client secret"), "read x").code == (
        "AuthenticationFailed")


def test_vmss_error_passes_through():
    original = VmssError("already clear")
    assert from_azure_error(original, "x") is original
