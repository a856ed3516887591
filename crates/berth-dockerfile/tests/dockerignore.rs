//! `.dockerignore` matching: a table of pattern / path / expected, the deciding line,
//! file parsing rules, and the choice of ignore file.

use berth_dockerfile::dockerignore::{clean_path, ignore_file_candidates, IgnoreFile};
use std::path::{Path, PathBuf};

/// (patterns, path, excluded?)
const TABLE: &[(&[&str], &str, bool)] = &[
    // plain names match the path and everything under it
    (&["node_modules"], "node_modules", true),
    (&["node_modules"], "node_modules/x/y.js", true),
    (&["node_modules"], "src/node_modules", false),
    (&["node_modules"], "node_modules2", false),
    // leading slash ignored, trailing slash cleaned away
    (&["/build"], "build/out", true),
    (&["build/"], "build", true),
    (&["./build"], "build/a", true),
    (&["a//b/../c"], "a/c", true),
    // single star stays inside one directory
    (&["*.md"], "README.md", true),
    (&["*.md"], "docs/README.md", false),
    (&["*/*.md"], "docs/README.md", true),
    (&["*/*.md"], "a/b/README.md", false),
    (&["*"], "anything/at/all", true),
    (&["docs/*"], "docs/a/b", true),
    // double star spans directories
    (&["**/*.md"], "README.md", true),
    (&["**/*.md"], "a/b/c/README.md", true),
    (&["**/*.md"], "a/b/c/README.txt", false),
    (&["**/target"], "target", true),
    (&["**/target"], "crates/x/target/debug/y", true),
    (&["a/**/z"], "a/z", true),
    (&["a/**/z"], "a/b/c/z", true),
    (&["a/**/z"], "a/bz", false),
    (&["a/**"], "a/b", true),
    (&["a/**"], "a", false),
    (&["**"], "x/y", true),
    (&["dir/**/*.o"], "dir/x/y.o", true),
    (&["dir/**/*.o"], "other/y.o", false),
    // question mark and classes
    (&["?.txt"], "a.txt", true),
    (&["?.txt"], "ab.txt", false),
    (&["file[0-9]"], "file7", true),
    (&["file[0-9]"], "filex", false),
    (&["file[^0-9]"], "filex", true),
    (&["file[!0-9]"], "file!", true),
    (&["file[!0-9]"], "filex", false),
    // escapes
    (&["\\*.txt"], "*.txt", true),
    (&["\\*.txt"], "a.txt", false),
    // regexp-special characters are literal
    (&["a+b(c).d"], "a+b(c).d", true),
    (&["a.b"], "axb", false),
    (&["$HOME"], "$HOME", true),
    // exceptions and last match wins
    (&["*.md", "!README.md"], "README.md", false),
    (&["*.md", "!README.md"], "CHANGES.md", true),
    (&["*.md", "!README.md", "README*"], "README.md", true),
    (&["docs", "!docs/keep"], "docs/keep/a.txt", false),
    (&["docs", "!docs/keep"], "docs/other.txt", true),
    (&["!keep", "*"], "keep", true),
    (&["*", "!src", "src/**/*.tmp"], "src/a/b.tmp", true),
    (&["*", "!src", "src/**/*.tmp"], "src/a/b.rs", false),
    // the context itself is never excluded
    (&["*"], ".", false),
    (&["."], "a", false),
    // paths are cleaned before matching
    (&["a/b"], "./a//b", true),
    (&["a/b"], "/a/b/", true),
    (&["x"], "a/../x", true),
];

#[test]
fn pattern_table() {
    let mut failures = Vec::new();
    for (patterns, path, want) in TABLE {
        let m = IgnoreFile::from_patterns(patterns).unwrap();
        if m.is_excluded(path) != *want {
            failures.push(format!("{patterns:?} on {path:?}: want excluded={want}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(TABLE.len() >= 50);
}

/// Matching rules for single patterns, path or parent directory (pattern, path, match?).
const SINGLE: &[(&str, &str, bool)] = &[
    ("**", "file", true),
    ("**/", "dir/file", true),
    ("**/**", "dir/file", true),
    ("dir/**", "dir/dir2/file", true),
    ("**/dir", "dir", true),
    ("**/dir", "dir/file", true),
    ("**/dir2/*", "dir/dir2/file", true),
    ("**/dir2/**", "dir/dir2/dir3/file", true),
    ("**file", "dir/dir/file", true),
    ("**/file*.txt*", "dir/dir/file.txt", true),
    ("**/**/*.txt2", "dir/dir/file.txt", false),
    ("a**/*.txt", "a/dir/dir/file.txt", true),
    ("a/*.txt", "a/dir/file.txt", false),
    ("a/*.txt**", "a/file.txt", true),
    ("a[b-d]e", "ae", false),
    ("a[b-d]e", "ace", true),
    ("a[^b-d]e", "aze", true),
    (".*", ".foo", true),
    (".*", "foo", false),
    ("abc.def", "abcZdef", false),
    ("abc?def", "abcZdef", true),
    ("**/foo/bar", "dir/dir2/foo/bar", true),
    ("**/.foo", "bar.foo", false),
    ("a(b)c/def", "a(b)c/xyz", false),
    ("a.|)$(}+{bc", "a.|)$(}+{bc", true),
    (
        "dist/*.whl",
        "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
        true,
    ),
    ("a\\\\", "a\\", true),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/f", true),
    ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", false),
    ("a*b?c*x", "abxbbxdbxebxczzx", true),
    ("a*b?c*x", "abxbbxdbxebxczzy", false),
    ("a?b", "a☺b", true),
    ("a???b", "a☺b", false),
    ("[a-ζ]*", "α", true),
    ("*[a-ζ]", "A", false),
    ("a*b", "a/b", false),
    ("*x", "xxx", true),
];

#[test]
fn single_pattern_table() {
    let mut failures = Vec::new();
    for (pattern, path, want) in SINGLE {
        let m = IgnoreFile::from_patterns(&[*pattern]).unwrap();
        if m.is_excluded(path) != *want {
            failures.push(format!("{pattern:?} on {path:?}: want {want}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn malformed_patterns_rejected() {
    for bad in [
        "[", "[^", "[^bc", "a[", "[]a]", "[-]", "[x-]", "[a-b-c]", "\\", "!",
    ] {
        assert!(IgnoreFile::from_patterns(&[bad]).is_err(), "{bad:?}");
    }
}

#[test]
fn reports_deciding_line() {
    let file = "# build outputs\n\ntarget\n*.log\n!important.log\n\n  docs/*.tmp  \n";
    let m = IgnoreFile::parse(file).unwrap();
    let v = m.check("target/debug/app");
    assert!(v.excluded);
    assert_eq!(v.line, Some(3));
    assert_eq!(v.pattern.as_deref(), Some("target"));
    let v = m.check("important.log");
    assert!(!v.excluded);
    assert_eq!(v.line, Some(5));
    let v = m.check("docs/x.tmp");
    assert_eq!((v.excluded, v.line), (true, Some(7)));
    let v = m.check("src/main.rs");
    assert_eq!((v.excluded, v.line), (false, None));
}

#[test]
fn file_rules() {
    let text =
        "\u{feff}first\r\n#comment\r\n #not a comment\r\n! /inverted/abs\r\n\t\r\n/abs/path\r\n";
    let m = IgnoreFile::parse(text).unwrap();
    let cleaned: Vec<(&str, bool, usize)> = m
        .patterns
        .iter()
        .map(|p| (p.cleaned.as_str(), p.exception, p.line))
        .collect();
    assert_eq!(
        cleaned,
        vec![
            ("first", false, 1),
            ("#not a comment", false, 3),
            ("inverted/abs", true, 4),
            ("abs/path", false, 6),
        ]
    );
    assert!(m.has_exceptions());
}

#[test]
fn bad_patterns_name_their_line() {
    let e = IgnoreFile::parse("ok\n!\n").unwrap_err();
    assert_eq!(e.span.start_line, 2);
    assert!(e.message.contains("illegal exclusion pattern"));
    let e = IgnoreFile::parse("a\nb\n[unclosed\n").unwrap_err();
    assert_eq!(e.span.start_line, 3);
    assert!(e
        .render(".dockerignore", "a\nb\n[unclosed\n")
        .starts_with(".dockerignore:3: "));
    assert!(IgnoreFile::parse("trailing\\\n").is_err());
}

#[test]
fn clean_path_like_go() {
    for (i, o) in [
        ("", "."),
        (".", "."),
        ("a/", "a"),
        ("a/./b", "a/b"),
        ("a/../..", ".."),
        ("/../a", "/a"),
        ("//a//b//", "/a/b"),
        ("a/b/../../c", "c"),
    ] {
        assert_eq!(clean_path(i), o, "{i}");
    }
}

#[test]
fn ignore_file_choice() {
    let ctx = Path::new("/src/app");
    assert_eq!(
        ignore_file_candidates(ctx, &ctx.join("Dockerfile")),
        vec![
            PathBuf::from("/src/app/Dockerfile.dockerignore"),
            PathBuf::from("/src/app/.dockerignore")
        ]
    );
    assert_eq!(
        ignore_file_candidates(ctx, Path::new("/src/app/build/Web.Dockerfile")),
        vec![
            PathBuf::from("/src/app/build/Web.Dockerfile.dockerignore"),
            PathBuf::from("/src/app/.dockerignore")
        ]
    );
    assert_eq!(
        ignore_file_candidates(ctx, Path::new("/elsewhere/prod.df"))[0],
        PathBuf::from("/elsewhere/prod.df.dockerignore")
    );
}
