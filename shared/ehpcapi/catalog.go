package ehpcapi

import (
	"net/http"
	"strings"
)

// Error codes of the E-HPC 2018-04-12 surface. The first group is the
// ModifyUserPasswords catalog of the vendor documentation (the 2024 English
// page); the second is the Alibaba Cloud RPC gateway's common codes, which
// every action can answer; the last are the per-user outcome codes of Results.
const (
	CodeInvalidParams             = "InvalidParams"
	CodeNotEnabled                = "NotEnabled"
	CodeInDebt                    = "InDebt"
	CodeInvalidOpt                = "InvalidOpt"
	CodeInvalidClusterStatus      = "InvalidClusterStatus"
	CodeClusterNotFound           = "ClusterNotFound"
	CodeManagerNotFound           = "ManagerNotFound"
	CodeAgentError                = "AgentError"
	CodeDomainNotExist            = "AgentError.Account.DomainNotExist"
	CodeGetentPasswdFailure       = "AgentError.Account.GetentPasswdFailure"
	CodeUserNotExist              = "AgentError.Account.UserNotExist"
	CodeUserChangePasswordFailure = "AgentError.Account.UserChangePasswordFailure"
	CodeNotAuthorized             = "NotAuthorized"
	CodePartFailure               = "PartFailure"
	CodeUnknownError              = "UnknownError"
	CodeServiceUnavailable        = "ServiceUnavailable"

	CodeMissingParameter       = "MissingParameter"
	CodeIncompleteSignature    = "IncompleteSignature"
	CodeSignatureDoesNotMatch  = "SignatureDoesNotMatch"
	CodeInvalidAccessKeyID     = "InvalidAccessKeyId.NotFound"
	CodeTimestampExpired       = "InvalidTimeStamp.Expired"
	CodeTimestampFormat        = "InvalidTimeStamp.Format"
	CodeSignatureNonceUsed     = "SignatureNonceUsed"
	CodeInvalidSignatureMethod = "InvalidSignatureMethod"
	CodeInvalidAction          = "InvalidAction.NotFound"
	CodeInvalidVersion         = "InvalidVersion"
	CodeThrottling             = "Throttling"
	CodeUnsupportedHTTPMethod  = "UnsupportedHTTPMethod"

	// CodeSuccess is the Code of a user whose password was reset, in Results.
	CodeSuccess = "Success"
)

// entry is one row of the catalog: the HTTP status, the message template
// (%s is filled with a parameter, domain or user name, never a password), and
// a recommendation for the error body's Recommend.
type entry struct {
	Status    int
	Message   string
	Recommend string
	// Source says where the row comes from: "seed" (the vendor's
	// ModifyUserPasswords page, verbatim) or "gateway" (the RPC gateway's
	// common codes, as protocols.md lists them) or "chpass".
	Source string
	// When says when this service answers it, for CATALOG.md.
	When string
}

// catalog is the one table of every code this surface answers.
var catalog = map[string]entry{
	CodeInvalidParams: {http.StatusBadRequest, "The specified parameter %s is invalid.", "", "seed",
		"A parameter is malformed, repeated, out of range, not UTF-8, or a password breaks the cluster's policy (Recommend lists the rules). Nothing was changed."},
	CodeNotEnabled: {http.StatusBadRequest, "You have not enabled this service", "", "seed",
		"Never: chpass has no subscription to enable. Kept so that the catalog is the vendor's."},
	CodeInDebt: {http.StatusBadRequest, "Your account has overdue payments.", "", "seed",
		"Never: chpass has no billing. Kept so that the catalog is the vendor's."},
	CodeInvalidOpt: {http.StatusBadRequest, "The specified operation is invalid. Please try again later. If the problem still exists, submit a ticket.", "", "seed",
		"Async=true or ListTasks on a deployment without a task store; Recommend says what to configure."},
	CodeInvalidClusterStatus: {http.StatusForbidden, "The operation failed due to invalid cluster status.", "", "seed",
		"The cluster's status is not \"running\" (and not \"exception\")."},
	CodeClusterNotFound: {http.StatusNotFound, "The specified cluster does not exist.", "", "seed",
		"ClusterId names no configured cluster (asked with a key allowed on every cluster)."},
	CodeManagerNotFound: {http.StatusNotFound, "The manager nodes do not exist or their status is abnormal.", "", "seed",
		"The cluster's status is \"exception\": its manager is known to be abnormal."},
	CodeAgentError: {http.StatusNotAcceptable, "The agent service request failed.", "", "seed",
		"Every user failed with a directory failure that is not one of the precise ones (an internal directory error)."},
	CodeDomainNotExist: {http.StatusNotAcceptable, "The specified domain does not exist: %s.", "", "seed",
		"The cluster has no directory configured (%s = the cluster's domain name, else its id)."},
	CodeGetentPasswdFailure: {http.StatusNotAcceptable, "Failed to get the user list: %s.", "", "seed",
		"ListUsers on a cluster whose directory cannot list users, or whose listing failed (%s = the domain name)."},
	CodeUserNotExist: {http.StatusNotAcceptable, "The specified user is not found in the domain: %s.", "", "seed",
		"Every named user is missing from the directory (%s = the names, comma-separated)."},
	CodeUserChangePasswordFailure: {http.StatusNotAcceptable, "Failed to modify user password in domain: %s.", "", "seed",
		"The directory refused every new password (its own policy, history, or permissions) (%s = the names)."},
	CodeNotAuthorized: {407, "You are not authorized by RAM for this request.", "", "seed",
		"The access key may not call this action, or not on this cluster (ListClusters lists only the clusters the key may see)."},
	CodePartFailure: {http.StatusConflict, "Part of the batch operation failed.", "", "seed",
		"Some users were reset and some were not, or every user failed for different reasons; Results has one outcome per user."},
	CodeUnknownError: {http.StatusInternalServerError, "An unknown error occurred.", "", "seed",
		"A failure of chpass itself: the task store failed, or the handler panicked."},
	CodeServiceUnavailable: {http.StatusServiceUnavailable, "The request has failed due to a temporary failure of the server", "", "seed",
		"Every user failed because the directory was unreachable or the deadline passed first, or the shared state (Redis) is unreachable and nothing was changed; retrying may succeed."},

	CodeMissingParameter: {http.StatusBadRequest, "The input parameter \"%s\" that is mandatory for processing this request is not supplied.", "", "gateway",
		"Action, ClusterId, User.1.Name, or a signature parameter (AccessKeyId, SignatureMethod, SignatureVersion, SignatureNonce, Timestamp) is missing."},
	CodeIncompleteSignature: {http.StatusBadRequest, "The request signature does not conform to Aliyun standards.", "", "gateway",
		"Signature is missing, or SignatureVersion is not 1.0."},
	CodeSignatureDoesNotMatch: {http.StatusBadRequest, "Specified signature is not matched with our calculation.", "", "gateway",
		"The signature is wrong (wrong secret, or the request changed on the way). The string to sign is never echoed: it holds passwords."},
	CodeInvalidAccessKeyID: {http.StatusNotFound, "Specified access key is not found.", "", "gateway",
		"AccessKeyId (or the IAM authorizer's access key) is not configured."},
	CodeTimestampExpired: {http.StatusBadRequest, "Specified time stamp or date value is expired.", "", "gateway",
		"Timestamp is more than 15 minutes away from the server's clock."},
	CodeTimestampFormat: {http.StatusBadRequest, "Specified time stamp or date value is not well formatted.", "", "gateway",
		"Timestamp is not ISO 8601 UTC (2006-01-02T15:04:05Z)."},
	CodeSignatureNonceUsed: {http.StatusBadRequest, "Specified signature nonce was used already.", "", "gateway",
		"The key already used this SignatureNonce within the last 15 minutes (a replay)."},
	CodeInvalidSignatureMethod: {http.StatusBadRequest, "Specified signature method is not supported.", "Use SignatureMethod=HMAC-SHA1.", "chpass",
		"SignatureMethod is not HMAC-SHA1."},
	CodeInvalidAction: {http.StatusNotFound, "Specified api is not found, please check your url and method.", "", "gateway",
		"Action is not ModifyUserPasswords, ListUsers, ListTasks or ListClusters."},
	CodeInvalidVersion: {http.StatusBadRequest, "Specified parameter Version is not valid.", "Use Version=2018-04-12.", "gateway",
		"Version is given and is not 2018-04-12."},
	CodeThrottling: {http.StatusBadRequest, "Request was denied due to request throttling.", "", "gateway",
		"The access key is locked for 5 minutes after 5 bad signatures from the caller's address (the vendor has no closer code; Recommend says so), or the in-memory nonce cache is full of unexpired nonces."},
	CodeUnsupportedHTTPMethod: {http.StatusBadRequest, "This http method is not supported.", "Use GET, or POST with application/x-www-form-urlencoded.", "chpass",
		"The method is neither GET nor POST."},
}

// apiError is an answer of the catalog: a code and the name that fills its %s.
// Name is a parameter, domain or user name; never a password.
type apiError struct {
	Code      string
	Name      string // fills %s
	Recommend string // overrides the catalog's recommendation when set
	Results   []UserResult
}

func (e *apiError) Error() string { return e.Code + ": " + e.message() }

func (e *apiError) status() int {
	if c, ok := catalog[e.Code]; ok {
		return c.Status
	}
	return http.StatusInternalServerError
}

func (e *apiError) message() string {
	c, ok := catalog[e.Code]
	if !ok {
		c = catalog[CodeUnknownError]
	}
	return strings.Replace(c.Message, "%s", e.Name, 1)
}

func (e *apiError) recommend() string {
	if e.Recommend != "" {
		return e.Recommend
	}
	return catalog[e.Code].Recommend
}

// errf returns the catalog's error code with %s filled by name.
func errf(code, name string) *apiError { return &apiError{Code: code, Name: name} }
