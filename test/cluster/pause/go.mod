module podrouter.test/pause

go 1.22
