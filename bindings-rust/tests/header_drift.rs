//! Catches drift between the hand-written `src/sys.rs` and `include/mbridge.h` (the header of the library
//! the crate links, found by build.rs): every function, callback typedef, struct field, enum constant and
//! integer #define must exist on both sides with the same C type, in the same order.
use std::collections::BTreeMap;

type Decls = BTreeMap<String, String>; // name -> canonical C signature / type / value

#[derive(Default, Debug)]
struct Api {
    functions: Decls,
    callbacks: Decls,
    structs: Decls, // "name" -> "field: type; ..." (opaque structs: "opaque")
    constants: Decls, // enum constants and integer #defines -> value
    enums: Decls,   // enum typedef name -> "int"
}

// ---- C side -------------------------------------------------------------------------------------------

fn strip_c_comments(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("/*") {
        out.push_str(&rest[..i]);
        rest = &rest[i + rest[i..].find("*/").expect("unclosed comment") + 2..];
    }
    out.push_str(rest);
    out.lines().map(|l| l.split("//").next().unwrap()).collect::<Vec<_>>().join("\n")
}

fn c_tokens(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for ch in s.chars() {
        if ch.is_alphanumeric() || ch == '_' || ch == '-' {
            cur.push(ch);
        } else {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            if !ch.is_whitespace() {
                out.push(ch.to_string());
            }
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// "const int32_t *const *" -> "int32_t const * const *": const written after what it qualifies.
fn canon_c(tokens: &[String]) -> String {
    let mut t = tokens.to_vec();
    if t.len() >= 2 && t[0] == "const" {
        t.swap(0, 1);
    }
    t.join(" ")
}

/// A declaration "TYPE NAME" or "TYPE NAME[N]" split into (name, canonical type).
fn c_decl(tokens: &[String]) -> (String, String) {
    if let Some(b) = tokens.iter().position(|t| t == "[") {
        let (name, ty) = (tokens[b - 1].clone(), canon_c(&tokens[..b - 1]));
        return (name, format!("{ty} [{}]", tokens[b + 1]));
    }
    let n = tokens.len();
    (tokens[n - 1].clone(), canon_c(&tokens[..n - 1]))
}

fn c_params(tokens: &[String]) -> String {
    if tokens == ["void"] || tokens.is_empty() {
        return String::new();
    }
    tokens.split(|t| t == ",").map(|p| c_decl(p).1).collect::<Vec<_>>().join(", ")
}

fn parse_header(text: &str) -> Api {
    let mut api = Api::default();
    for line in text.lines() {
        let t: Vec<&str> = line.split_whitespace().collect();
        if t.len() >= 3 && t[0] == "#define" && t[1].starts_with("MB_") {
            if let Ok(v) = t[2].parse::<i64>() {
                api.constants.insert(t[1].into(), v.to_string());
            }
        }
    }
    let body: String = strip_c_comments(text).lines().filter(|l| !l.trim_start().starts_with('#')).collect::<Vec<_>>().join("\n");
    let tokens = c_tokens(&body);
    let mut i = 0;
    while i < tokens.len() {
        if tokens[i] != "typedef" && tokens[i] != "MB_API" {
            i += 1;
            continue;
        }
        let start = i;
        let mut depth = 0;
        while !(tokens[i] == ";" && depth == 0) {
            match tokens[i].as_str() {
                "{" => depth += 1,
                "}" => depth -= 1,
                _ => {}
            }
            i += 1;
        }
        let stmt = &tokens[start..i];
        i += 1;
        if stmt[0] == "MB_API" {
            let open = stmt.iter().position(|t| t == "(").unwrap();
            let name = stmt[open - 1].clone();
            let ret = canon_c(&stmt[1..open - 1]);
            let params = c_params(&stmt[open + 1..stmt.len() - 1]);
            api.functions.insert(name, format!("({params}) -> {ret}"));
        } else if stmt[1] == "enum" {
            let name = stmt.last().unwrap().clone();
            api.enums.insert(name, "int".into());
            let open = stmt.iter().position(|t| t == "{").unwrap();
            let close = stmt.iter().position(|t| t == "}").unwrap();
            for item in stmt[open + 1..close].split(|t| t == ",") {
                assert_eq!(item.len(), 3, "enum items must have explicit values: {item:?}");
                api.constants.insert(item[0].clone(), item[2].parse::<i64>().unwrap().to_string());
            }
        } else if stmt[1] == "struct" && stmt.len() == 4 {
            api.structs.insert(stmt[3].clone(), "opaque".into());
        } else if stmt[1] == "struct" {
            let name = stmt.last().unwrap().clone();
            let open = stmt.iter().position(|t| t == "{").unwrap();
            let mut fields = Vec::new();
            for decl in stmt[open + 1..stmt.len() - 2].split(|t| t == ";").filter(|d| !d.is_empty()) {
                // "int32_t tp, pp, vpp, ep": one type, several names.
                let mut parts = decl.split(|t| t == ",");
                let (first_name, ty) = c_decl(parts.next().unwrap());
                fields.push(format!("{first_name}: {ty}"));
                for other in parts {
                    fields.push(format!("{}: {ty}", other[0]));
                }
            }
            api.structs.insert(name, fields.join("; "));
        } else if stmt.iter().any(|t| t == "*") && stmt.get(stmt.iter().position(|t| t == "(").unwrap() + 1).map(String::as_str) == Some("*") {
            // typedef RET (*NAME)(PARAMS)
            let open = stmt.iter().position(|t| t == "(").unwrap();
            let name = stmt[open + 2].clone();
            let ret = canon_c(&stmt[1..open]);
            let params = c_params(&stmt[open + 5..stmt.len() - 1]);
            api.callbacks.insert(name, format!("({params}) -> {ret}"));
        } else {
            panic!("header: a typedef this test does not understand: {}", stmt.join(" "));
        }
    }
    api
}

// ---- Rust side ----------------------------------------------------------------------------------------

fn rust_to_c(ty: &str) -> String {
    let ty = ty.trim();
    if let Some(rest) = ty.strip_prefix("*const ") {
        return format!("{} const *", rust_to_c(rest));
    }
    if let Some(rest) = ty.strip_prefix("*mut ") {
        return format!("{} *", rust_to_c(rest));
    }
    if let Some(inner) = ty.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        let (elem, n) = inner.split_once(';').unwrap();
        return format!("{} [{}]", rust_to_c(elem), n.trim());
    }
    match ty {
        "c_char" => "char",
        "c_int" => "int",
        "c_void" | "()" => "void",
        "i8" => "int8_t",
        "i16" => "int16_t",
        "i32" => "int32_t",
        "i64" => "int64_t",
        "u8" => "uint8_t",
        "u16" => "uint16_t",
        "u32" => "uint32_t",
        "u64" => "uint64_t",
        "usize" => "size_t",
        "f32" => "float",
        "f64" => "double",
        other => other,
    }
    .to_string()
}

/// Splits at commas outside brackets.
fn split_top(s: &str) -> Vec<String> {
    let (mut out, mut cur, mut depth) = (Vec::new(), String::new(), 0);
    for ch in s.chars() {
        match ch {
            '(' | '[' | '<' => depth += 1,
            ')' | ']' | '>' if !cur.ends_with('-') => depth -= 1,
            ',' if depth == 0 => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(ch);
    }
    out.push(cur);
    out.into_iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
}

/// "(a: T, b: U) -> R" (the text after `fn`) -> "(T', U') -> R'".
fn rust_sig(s: &str) -> String {
    let s = s.trim();
    let mut depth = 0;
    let close = s.char_indices().find(|&(_, c)| {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            _ => {}
        }
        depth == 0
    });
    let close = close.unwrap().0;
    let params = split_top(&s[1..close]).iter().map(|p| rust_to_c(p.split_once(':').unwrap().1)).collect::<Vec<_>>().join(", ");
    let ret = s[close + 1..].trim().strip_prefix("->").map_or("void".to_string(), rust_to_c);
    format!("({params}) -> {ret}")
}

fn parse_sys(text: &str) -> Api {
    let mut api = Api::default();
    let code: String = text.lines().map(|l| l.split("//").next().unwrap()).collect::<Vec<_>>().join("\n");
    let items: Vec<String> = {
        // Statements end at ';' outside braces or at a closing '}' of a struct.
        let (mut out, mut cur, mut depth) = (Vec::new(), String::new(), 0);
        for ch in code.chars() {
            cur.push(ch);
            match ch {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        out.push(std::mem::take(&mut cur));
                    }
                }
                ';' if depth <= 1 && !cur.trim_start().starts_with("#[repr") && !cur.contains("struct ") => {
                    out.push(std::mem::take(&mut cur));
                }
                _ => {}
            }
        }
        out.into_iter().map(|s| s.split_whitespace().collect::<Vec<_>>().join(" ")).collect()
    };
    for item in items {
        let item = item.trim().trim_start_matches("extern \"C\" {").trim();
        let item = item.strip_prefix("#[repr(C)] #[derive(Clone, Copy)] ").or_else(|| item.strip_prefix("#[repr(C)] ")).unwrap_or(item);
        if let Some(rest) = item.strip_prefix("pub const ") {
            let (name, value) = rest.trim_end_matches(';').split_once('=').unwrap();
            let name = name.split(':').next().unwrap().trim();
            api.constants.insert(name.into(), value.trim().parse::<i64>().expect("integer constant").to_string());
        } else if let Some(rest) = item.strip_prefix("pub type ") {
            let (name, ty) = rest.trim_end_matches(';').split_once('=').unwrap();
            let ty = ty.trim();
            if let Some(f) = ty.strip_prefix("Option<unsafe extern \"C\" fn").and_then(|f| f.strip_suffix('>')) {
                api.callbacks.insert(name.trim().into(), rust_sig(f));
            } else {
                api.enums.insert(name.trim().into(), rust_to_c(ty));
            }
        } else if let Some(rest) = item.strip_prefix("pub struct ") {
            let (name, body) = rest.split_once('{').unwrap();
            let body = body.trim().trim_end_matches('}');
            let fields: Vec<String> = split_top(body)
                .iter()
                .map(|f| {
                    let (n, t) = f.trim_start_matches("pub ").split_once(':').unwrap();
                    format!("{}: {}", n.trim(), rust_to_c(t))
                })
                .collect();
            let desc = if fields.len() == 1 && fields[0].starts_with("_private") { "opaque".into() } else { fields.join("; ") };
            api.structs.insert(name.trim().into(), desc);
        } else if let Some(rest) = item.strip_prefix("pub fn ") {
            let open = rest.find('(').unwrap();
            api.functions.insert(rest[..open].trim().into(), rust_sig(rest[open..].trim_end_matches(';')));
        } else if !item.is_empty() && item != "}" && item != ";" && !item.starts_with("#!") && !item.starts_with("use ") && !item.starts_with("//") {
            panic!("sys.rs: an item this test does not understand: {item}");
        }
    }
    api
}

fn compare(kind: &str, c: &Decls, rust: &Decls, problems: &mut Vec<String>) {
    for (name, c_sig) in c {
        match rust.get(name) {
            None => problems.push(format!("{kind} {name}: in the header, missing from sys.rs")),
            Some(r) if r != c_sig => problems.push(format!("{kind} {name}: header `{c_sig}`, sys.rs `{r}`")),
            _ => {}
        }
    }
    for name in rust.keys().filter(|n| !c.contains_key(*n)) {
        problems.push(format!("{kind} {name}: in sys.rs, not in the header"));
    }
}

#[test]
fn sys_rs_matches_the_header() {
    let header_path = env!("MBRIDGE_HEADER");
    let header = std::fs::read_to_string(header_path).unwrap_or_else(|e| panic!("{header_path}: {e}"));
    let sys = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/sys.rs")).unwrap();
    let (c, rust) = (parse_header(&header), parse_sys(&sys));
    assert!(
        c.functions.len() > 50 && c.structs.len() > 10 && c.callbacks.len() >= 3 && c.enums.len() >= 6 && c.constants.len() > 40,
        "header parse found too little: {c:?}"
    );
    let mut problems = Vec::new();
    compare("function", &c.functions, &rust.functions, &mut problems);
    compare("callback", &c.callbacks, &rust.callbacks, &mut problems);
    compare("struct", &c.structs, &rust.structs, &mut problems);
    compare("constant", &c.constants, &rust.constants, &mut problems);
    compare("enum", &c.enums, &rust.enums, &mut problems);
    assert!(problems.is_empty(), "sys.rs drifted from {header_path}:\n  {}", problems.join("\n  "));
}

#[test]
fn the_drift_check_notices_a_change() {
    // The check itself must be able to fail: a header with one parameter changed is not accepted.
    let header = std::fs::read_to_string(env!("MBRIDGE_HEADER")).unwrap();
    let changed = header.replacen("int32_t tp, pp, vpp, ep;", "int64_t tp, pp, vpp, ep;", 1).replacen(
        "MB_API void mb_export_free(mb_export *it);",
        "MB_API void mb_export_free(const mb_export *it);",
        1,
    );
    assert_ne!(changed, header, "the test's edits must apply to the header");
    let sys = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/sys.rs")).unwrap();
    let (c, rust) = (parse_header(&changed), parse_sys(&sys));
    let mut problems = Vec::new();
    compare("function", &c.functions, &rust.functions, &mut problems);
    compare("struct", &c.structs, &rust.structs, &mut problems);
    assert_eq!(problems.len(), 2, "{problems:#?}");
}
