package backend

import (
	"strings"
	"unicode/utf8"
)

// Error is an apisonator error: rendered as an error document
// (<error code="...">message</error>) with its HTTP status.
type Error struct {
	Code    string // snake_case class name, e.g. "user_key_invalid"
	Message string
	Status  int
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// XML renders the error document exactly as apisonator's Builder output.
func (e *Error) XML() []byte {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><error code="`)
	b.WriteString(xmlEscape(e.Code, true))
	b.WriteString(`">`)
	b.WriteString(xmlEscape(e.Message, false))
	b.WriteString(`</error>`)
	return []byte(b.String())
}

func newErr(status int, code, msg string) *Error {
	return &Error{Code: code, Message: msg, Status: status}
}

// Error constructors, one per apisonator error class used by the listener.
func errProviderKeyInvalid(k string) *Error {
	return newErr(403, "provider_key_invalid", `provider key "`+k+`" is invalid`)
}
func errProviderKeyOrServiceTokenRequired() *Error {
	return newErr(403, "provider_key_or_service_token_required", "Provider key or service token are required")
}
func errServiceIDMissing() *Error { return newErr(422, "service_id_missing", "Service ID is missing") }
func errServiceTokenInvalid(tok, sid string) *Error {
	return newErr(403, "service_token_invalid", `service token "`+tok+`" or service id "`+sid+`" is invalid`)
}
func errServiceIDInvalid(sid string) *Error {
	return newErr(403, "service_id_invalid", `service id "`+sid+`" is invalid`)
}
func errProviderKeyInvalidOrServiceMissing(k string) *Error {
	return newErr(403, "provider_key_invalid_or_service_missing", `provider key "`+k+`" invalid and/or service ID missing`)
}
func errUserKeyInvalid(k string) *Error {
	return newErr(403, "user_key_invalid", `user key "`+k+`" is invalid`)
}
func errApplicationNotFound(id string) *Error {
	return newErr(404, "application_not_found", `application with id="`+id+`" was not found`)
}
func errApplicationIDMissing() *Error {
	return newErr(404, "application_not_found", "application id is missing")
}
func errAuthentication() *Error {
	return newErr(403, "authentication_error", "either app_id or user_key is allowed, not both")
}
func errMetricInvalid(m string) *Error {
	return newErr(404, "metric_invalid", `metric "`+m+`" is invalid`)
}
func errUsageValueInvalid(m, v string) *Error {
	if strings.TrimSpace(v) == "" {
		return newErr(403, "usage_value_invalid", `usage value for metric "`+m+`" can not be empty`)
	}
	return newErr(403, "usage_value_invalid", `usage value "`+v+`" for metric "`+m+`" is invalid`)
}

// errNotValidData is the answer to invalid UTF-8 anywhere in a request.
// Released apisonator versions answer 400 (NotValidData is a BadRequest),
// which is what this backend does; apisonator's main branch, not yet in a
// release, answers 422 instead.
func errNotValidData() *Error { return newErr(400, "not_valid_data", "all data must be valid UTF8") }
func errEndUsers() *Error {
	return newErr(400, "end_users_no_longer_supported", "End-users are no longer supported, do not specify the user_id parameter")
}
func errContentTypeInvalid(ct string) *Error {
	return newErr(400, "content_type_invalid", "invalid Content-Type: "+ct)
}
func errTransactionsIsBlank() *Error {
	return newErr(400, "transactions_is_blank", "transactions parameter is blank")
}
func errTransactionsFormatInvalid() *Error {
	return newErr(400, "transactions_format_invalid", "transactions format is invalid")
}
func errTransactionsHasNil() *Error {
	return newErr(400, "transactions_has_nil_transaction", "transactions has a nil transaction")
}
func errBadRequest() *Error {
	return newErr(400, "bad_request", "request contains syntax errors, should not be repeated without modification")
}

// Rejections: reported in a status document (409), never raised.
type rejection struct{ code, text string }

func rejAppKeyInvalid(k string, present bool) rejection {
	if !present || strings.TrimSpace(k) == "" {
		return rejection{"application_key_invalid", "application key is missing"}
	}
	return rejection{"application_key_invalid", `application key "` + k + `" is invalid`}
}

var (
	rejAppNotActive     = rejection{"application_not_active", "application is not active"}
	rejServiceNotActive = rejection{"service_not_active", "service is not active"}
	rejLimitsExceeded   = rejection{"limits_exceeded", "usage limits are exceeded"}
	rejOauthNotEnabled  = rejection{"oauth_not_enabled", "oauth is not enabled"}
)

func rejReferrer(r string) rejection {
	if strings.TrimSpace(r) == "" {
		return rejection{"referrer_not_allowed", "referrer is missing"}
	}
	return rejection{"referrer_not_allowed", `referrer "` + r + `" is not allowed`}
}

func rejRedirect(field, v string) rejection {
	if field == "redirect_uri" {
		return rejection{"redirect_uri_invalid", `redirect_uri "` + v + `" is invalid`}
	}
	return rejection{"redirect_url_invalid", `redirect_url "` + v + `" is invalid`}
}

// xmlEscape escapes like Ruby Builder's to_xs: &, <, > (and " in
// attributes) as entities, non-ASCII as numeric references, and invalid
// characters as '*'.
func xmlEscape(s string, attr bool) string {
	clean := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '&' || c == '<' || c == '>' || c >= 0x80 || (c < 0x20 && c != '\t' && c != '\n' && c != '\r') || (attr && c == '"') {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '&':
			b.WriteString("&amp;")
		case r == '<':
			b.WriteString("&lt;")
		case r == '>':
			b.WriteString("&gt;")
		case attr && r == '"':
			b.WriteString("&quot;")
		case r == utf8.RuneError || (r < 0x20 && r != '\t' && r != '\n' && r != '\r'):
			b.WriteByte('*')
		case r >= 0x80:
			b.WriteString("&#" + itoa(int64(r)) + ";")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// textEscape escapes like Ruby's String#encode(xml: :text): &, <, >.
func textEscape(s string) string {
	if !strings.ContainsAny(s, "&<>") {
		return s
	}
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")
	return r.Replace(s)
}
