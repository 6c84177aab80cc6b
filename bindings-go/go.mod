module mbridge

go 1.19
