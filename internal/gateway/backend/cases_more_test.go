package backend

var authrepCases, reportCases, oauthCases []smCase
