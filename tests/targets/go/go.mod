module allocscope.test/targets

go 1.19
