package backend

import (
	"bytes"
	"context"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Transaction is one entry of a POST /transactions.xml batch.
type Transaction struct {
	AppID     string
	UserKey   string
	Usage     map[string]string
	Timestamp string
	LogCode   string
}

// reportWindow bounds the timestamps a report may carry (older or newer
// transactions are dropped, as apisonator's report job does with its
// REPORT_DEADLINE_PAST and REPORT_DEADLINE_FUTURE: one day, one hour).
const (
	reportMaxAge    = 24 * time.Hour
	reportMaxFuture = time.Hour
)

var txKeyRe = regexp.MustCompile(`^transactions\[([^\]]*)\](.*)$`)

// serveReport handles POST /transactions.xml. Like apisonator it answers
// 202 once the batch is accepted; the batch is recorded only if every
// transaction in it is valid (known application, metrics and values).
func (b *Backend) serveReport(w http.ResponseWriter, r *http.Request) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, _ := mime.ParseMediaType(ct)
		if mt != "" && mt != "application/x-www-form-urlencoded" && mt != "multipart/form-data" {
			b.writeError(w, errContentTypeInvalid(mt), false)
			return
		}
	}
	r.Body = http.MaxBytesReader(w, r.Body, 32<<20)
	// Rack parses the query string and a form body each within its
	// limits, before anything else.
	if e := queryLimit(r.URL.RawQuery); e != nil {
		b.writeError(w, e, false)
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "application/x-www-form-urlencoded" {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			b.writeError(w, errBadRequest(), false)
			return
		}
		if e := queryLimit(string(body)); e != nil {
			b.writeError(w, e, false)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	if err := r.ParseMultipartForm(32 << 20); err != nil && err != http.ErrNotMultipart {
		b.writeError(w, errBadRequest(), false)
		return
	}
	vals := r.Form
	last := func(k string) string {
		vs := vals[k]
		if len(vs) == 0 {
			return ""
		}
		return strings.TrimSpace(vs[len(vs)-1])
	}
	p := &Params{ProviderKey: last("provider_key"), ServiceToken: last("service_token"), ServiceID: last("service_id")}
	svc, err := b.resolve(r.Context(), p)
	if err != nil {
		b.writeError(w, err, false)
		return
	}
	for _, k := range []string{"provider_key", "service_token", "service_id"} {
		if !utf8.ValidString(last(k)) {
			b.writeError(w, errNotValidData(), false)
			return
		}
	}
	txs, perr := parseTransactions(vals)
	if perr != nil {
		b.writeError(w, perr, false)
		return
	}
	ext := ParseExtensions(r.Header.Get("3scale-options"))
	if err := b.Report(r.Context(), svc.ID, txs, ext); err != nil {
		if _, ok := err.(*Error); !ok {
			b.writeError(w, err, false)
			return
		}
		b.log.Info("report batch dropped", "service_id", svc.ID, "reason", err.Error())
	}
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(http.StatusAccepted)
}

func parseTransactions(vals url.Values) ([]Transaction, *Error) {
	byID := map[string]*Transaction{}
	var order []string
	if vs, ok := vals["transactions"]; ok && len(byID) == 0 {
		if len(vs) > 0 && vs[len(vs)-1] != "" {
			return nil, errTransactionsFormatInvalid()
		}
	}
	for k, vs := range vals {
		m := txKeyRe.FindStringSubmatch(k)
		if m == nil || len(vs) == 0 {
			continue
		}
		id, rest, v := m[1], m[2], vs[len(vs)-1]
		if id == "" {
			return nil, errTransactionsFormatInvalid()
		}
		t, ok := byID[id]
		if !ok {
			t = &Transaction{}
			byID[id] = t
			order = append(order, id)
		}
		switch {
		case rest == "":
			return nil, errTransactionsHasNil()
		case rest == "[app_id]":
			t.AppID = strings.TrimSpace(v)
		case rest == "[user_key]":
			t.UserKey = strings.TrimSpace(v)
		case rest == "[timestamp]":
			t.Timestamp = v
		case rest == "[log][code]":
			t.LogCode = v
		case rest == "[user_id]":
			return nil, errEndUsers()
		case strings.HasPrefix(rest, "[usage][") && strings.HasSuffix(rest, "]"):
			if t.Usage == nil {
				t.Usage = map[string]string{}
			}
			t.Usage[rest[len("[usage]["):len(rest)-1]] = v
		}
	}
	if len(order) == 0 {
		return nil, errTransactionsIsBlank()
	}
	sort.Slice(order, func(i, j int) bool {
		a, ea := strconv.Atoi(order[i])
		c, ec := strconv.Atoi(order[j])
		if ea == nil && ec == nil {
			return a < c
		}
		return order[i] < order[j]
	})
	out := make([]Transaction, len(order))
	for i, id := range order {
		out[i] = *byID[id]
	}
	return out, nil
}

// Report records a batch of transactions for service sid: all of them or,
// if any is invalid (unknown application, metric or value, timestamp out
// of range), none. A *Error names the first invalid transaction. With
// ext.FlatUsage the usage is recorded as given, not propagated to parent
// metrics (apisonator's report job honours flat_usage the same way).
func (b *Backend) Report(ctx context.Context, sid string, txs []Transaction, ext Extensions) error {
	m, err := b.st.loadMetrics(ctx, sid)
	if err != nil {
		return err
	}
	now := b.now().UTC()
	type prepared struct {
		app   string
		usage map[string]usageValue
		code  string
		at    time.Time
	}
	var ready []prepared
	for _, t := range txs {
		app, err := b.loadApplication(ctx, sid, t.AppID, t.UserKey)
		if err != nil {
			return err
		}
		u, err := processUsage(m, t.Usage, ext.FlatUsage)
		if err != nil {
			return err
		}
		// A timestamp that cannot be read means "now", as apisonator's
		// Transaction#timestamp= does.
		at := now
		if ts, ok := parseTimestamp(t.Timestamp); ok {
			if now.Sub(ts) > reportMaxAge {
				return newErr(403, "transaction_timestamp_too_old", "reporting transactions older than "+itoa(int64(reportMaxAge.Seconds()))+" seconds is not allowed")
			}
			if ts.Sub(now) > reportMaxFuture {
				return newErr(403, "transaction_timestamp_too_new", "reporting transactions more than "+itoa(int64(reportMaxFuture.Seconds()))+" seconds in the future is not allowed")
			}
			at = ts
		}
		ready = append(ready, prepared{app.ID, u, t.LogCode, at})
	}
	pipe := b.rdb.Pipeline()
	for _, p := range ready {
		b.queueRecord(ctx, pipe, sid, p.app, p.usage, p.code, p.at)
	}
	if pipe.Len() == 0 {
		return nil
	}
	_, err = pipe.Exec(ctx)
	return err
}

// parseTimestamp accepts a UNIX timestamp, or a date ("YYYY-MM-DD" or
// "YYYY/MM/DD") with an optional "HH:MM:SS" and an optional "+HH:MM",
// "+HHMM" or "UTC" zone (UTC without one) — the forms apisonator's
// Time.parse_to_utc is given in practice.
func parseTimestamp(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, false
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(n, 0).UTC(), true
	}
	s = strings.ReplaceAll(s, "/", "-")
	if strings.HasSuffix(s, " UTC") {
		s = strings.TrimSuffix(s, " UTC")
	}
	for _, f := range []string{"2006-01-02 15:04:05 -07:00", "2006-01-02 15:04:05 -0700", "2006-01-02 15:04:05", "2006-01-02T15:04:05Z07:00", "2006-01-02"} {
		if t, err := time.Parse(f, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}
