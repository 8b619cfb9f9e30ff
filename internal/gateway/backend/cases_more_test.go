package backend

var authrepCases = authrepCasesAll()

var oauthCases []smCase
