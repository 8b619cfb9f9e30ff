package drill

import (
	"encoding/xml"
	"fmt"

	"github.com/3scale-ops/3scale-ops/internal/redact"
	"github.com/3scale-ops/3scale-ops/internal/restore"
)

type junitSuite struct {
	XMLName  xml.Name    `xml:"testsuite"`
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Time     string      `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name    string        `xml:"name,attr"`
	Class   string        `xml:"classname,attr"`
	Time    string        `xml:"time,attr"`
	Failure *junitFailure `xml:"failure,omitempty"`
	Skipped *junitSkipped `xml:"skipped,omitempty"`
}

type junitSkipped struct {
	Message string `xml:"message,attr"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Text    string `xml:",chardata"`
}

// JUnit renders the report as a JUnit XML test suite: one case per drill
// step and per restore step, a skipped case per component left out.
// Secrets are masked.
func (rep *Report) JUnit() []byte {
	s := junitSuite{Name: "3scale-ops drill " + rep.Snapshot, Time: fmt.Sprintf("%.3f", rep.Seconds)}
	add := func(name string, secs float64, ok bool, msg string) {
		c := junitCase{Name: name, Class: "drill", Time: fmt.Sprintf("%.3f", secs)}
		if !ok {
			msg = redact.String(msg)
			c.Failure = &junitFailure{Message: msg, Text: msg}
			s.Failures++
		}
		s.Cases = append(s.Cases, c)
		s.Tests++
	}
	for _, st := range rep.Steps {
		add(st.Name, st.Seconds, st.Passed, st.Detail)
	}
	for _, st := range rep.Restore {
		add("restore/"+st.Name, st.Ended.Sub(st.Started).Seconds(), st.Status == restore.Done && !st.Mismatch, st.Error+st.Summary)
	}
	for _, sk := range rep.Skipped {
		s.Cases = append(s.Cases, junitCase{Name: "restore/" + sk.Component, Class: "drill", Time: "0.000", Skipped: &junitSkipped{Message: sk.Reason}})
		s.Tests++
		s.Skipped++
	}
	b, _ := xml.MarshalIndent(s, "", "  ")
	return append([]byte(xml.Header), append(b, '\n')...)
}
