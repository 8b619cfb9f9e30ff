package verify

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"sort"
)

type xmlStatus struct {
	XMLName    xml.Name `xml:"status"`
	Authorized bool     `xml:"authorized"`
	Plan       string   `xml:"plan"`
	Reports    []struct {
		Metric string `xml:"metric,attr"`
		Period string `xml:"period,attr"`
		Max    int64  `xml:"max_value"`
	} `xml:"usage_reports>usage_report"`
}

type xmlError struct {
	XMLName xml.Name `xml:"error"`
	Code    string   `xml:"code,attr"`
}

// parseXMLOutcome reads an apisonator authorize response: a status
// document (200/409, rejection code in the 3scale-rejection-reason
// header) or an error document (code attribute).
func parseXMLOutcome(resp *http.Response, body []byte) (Outcome, error) {
	var st xmlStatus
	if err := xml.Unmarshal(body, &st); err == nil {
		o := Outcome{Authorized: st.Authorized, Plan: st.Plan}
		if !st.Authorized {
			o.Code = resp.Header.Get("3scale-rejection-reason")
		}
		for _, r := range st.Reports {
			o.Reports = append(o.Reports, fmt.Sprintf("%s/%s/%d", r.Metric, r.Period, r.Max))
		}
		sort.Strings(o.Reports)
		return o, nil
	}
	var e xmlError
	if err := xml.Unmarshal(body, &e); err == nil && e.Code != "" {
		return Outcome{Code: e.Code}, nil
	}
	return Outcome{}, fmt.Errorf("unexpected answer from the backend (HTTP %d): %.200q", resp.StatusCode, body)
}
