module github.com/nightjar-sec/nightjar

go 1.26
