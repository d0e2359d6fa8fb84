module allocscope.bench/go

go 1.19
