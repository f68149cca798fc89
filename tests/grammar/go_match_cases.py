"""Go's path/filepath match_test.go table (pattern, name, matches; Unix behaviour), which two
suites run: globmatch (Go's filepath.Match itself) and the .dockerignore matcher (moby's
patternmatcher_test.go TestMatch runs the same table through its matcher)."""

GO_MATCH_TESTS = [
    ("abc", "abc", True), ("*", "abc", True), ("*c", "abc", True), ("a*", "a", True),
    ("a*", "abc", True), ("a*", "ab/c", False), ("a*/b", "abc/b", True),
    ("a*/b", "a/c/b", False), ("a*b*c*d*e*/f", "axbxcxdxe/f", True),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/f", True), ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", False),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", False), ("a*b?c*x", "abxbbxdbxebxczzx", True),
    ("a*b?c*x", "abxbbxdbxebxczzy", False), ("ab[c]", "abc", True), ("ab[b-d]", "abc", True),
    ("ab[e-g]", "abc", False), ("ab[^c]", "abc", False), ("ab[^b-d]", "abc", False),
    ("ab[^e-g]", "abc", True), ("a\\*b", "a*b", True), ("a\\*b", "ab", False),
    ("a?b", "a☺b", True), ("a[^a]b", "a☺b", True), ("a???b", "a☺b", False),
    ("a[^a][^a][^a]b", "a☺b", False), ("[a-ζ]*", "α", True), ("*[a-ζ]", "A", False),
    ("a?b", "a/b", False), ("a*b", "a/b", False), ("[\\]a]", "]", True),
    ("[\\-]", "-", True), ("[x\\-]", "x", True), ("[x\\-]", "-", True),
    ("[x\\-]", "z", False), ("[\\-x]", "x", True), ("[\\-x]", "-", True),
    ("[\\-x]", "a", False), ("*x", "xxx", True),
]
