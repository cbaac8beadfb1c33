//! JSON values, written the way ZooKeeper's admin server writes them: Jackson's
//! `DefaultPrettyPrinter`. Objects put each entry on its own line, indented two spaces per level
//! of object nesting, with `" : "` between key and value; arrays stay on one line (`[ 1, 2 ]`)
//! and add no indentation; empty ones are `{ }` and `[ ]`. Strings escape `"`, `\` and control
//! characters only. Doubles print as Java prints them (`0.0`, `4.6429`, `1.0E-4`).

use crate::fourlw::java_double;
use std::fmt::Write;

#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Array(Vec<Json>),
    /// Entries in order (ZooKeeper's responses are `LinkedHashMap`s).
    Object(Vec<(String, Json)>),
}

impl Json {
    pub fn str(s: impl Into<String>) -> Json {
        Json::Str(s.into())
    }

    pub fn uint(n: u64) -> Json {
        Json::Int(i64::try_from(n).unwrap_or(i64::MAX))
    }

    /// The value as Jackson pretty-prints it, without a final newline.
    pub fn pretty(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, 0);
        out
    }

    fn write(&self, out: &mut String, nesting: usize) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Int(n) => {
                let _ = write!(out, "{n}");
            }
            // JSON has no NaN or infinities; Jackson writes them as strings.
            Json::Float(x) if !x.is_finite() => string(out, &java_double(*x)),
            Json::Float(x) => out.push_str(&java_double(*x)),
            Json::Str(s) => string(out, s),
            Json::Array(items) if items.is_empty() => out.push_str("[ ]"),
            Json::Array(items) => {
                out.push_str("[ ");
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    item.write(out, nesting);
                }
                out.push_str(" ]");
            }
            Json::Object(entries) if entries.is_empty() => out.push_str("{ }"),
            Json::Object(entries) => {
                out.push('{');
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    newline(out, nesting + 1);
                    string(out, k);
                    out.push_str(" : ");
                    v.write(out, nesting + 1);
                }
                newline(out, nesting);
                out.push('}');
            }
        }
    }
}

fn newline(out: &mut String, nesting: usize) {
    out.push('\n');
    for _ in 0..nesting {
        out.push_str("  ");
    }
}

fn string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(entries: &[(&str, Json)]) -> Json {
        Json::Object(entries.iter().map(|(k, v)| (k.to_string(), v.clone())).collect())
    }

    #[test]
    fn layout_is_jacksons_default_pretty_printer() {
        // The shape of ZooKeeper's `stats` answer (tests/testdata/admin/zookeeper_stat.json).
        let conn = |port: &str| {
            obj(&[("remote_socket_address", Json::str(format!("127.0.0.1:{port}"))), ("interest_ops", Json::Int(1))])
        };
        let v = obj(&[
            ("read_only", Json::Bool(false)),
            ("client_response", obj(&[("last_buffer_size", Json::Int(-1))])),
            ("avg_latency", Json::Float(0.0)),
            ("connections", Json::Array(vec![conn("40728"), conn("40720")])),
            ("secure_connections", Json::Array(vec![])),
            ("current_config", obj(&[])),
            ("digests", Json::Array(vec![Json::Int(1), Json::Int(2)])),
            ("command", Json::str("stats")),
            ("error", Json::Null),
        ]);
        assert_eq!(
            v.pretty(),
            r#"{
  "read_only" : false,
  "client_response" : {
    "last_buffer_size" : -1
  },
  "avg_latency" : 0.0,
  "connections" : [ {
    "remote_socket_address" : "127.0.0.1:40728",
    "interest_ops" : 1
  }, {
    "remote_socket_address" : "127.0.0.1:40720",
    "interest_ops" : 1
  } ],
  "secure_connections" : [ ],
  "current_config" : { },
  "digests" : [ 1, 2 ],
  "command" : "stats",
  "error" : null
}"#
        );
    }

    #[test]
    fn strings_escape_what_json_requires() {
        let v = Json::str("a\"b\\c\nd\u{1}é/");
        assert_eq!(v.pretty(), r#""a\"b\\c\nd\u0001é/""#);
        assert_eq!(Json::Float(1e-4).pretty(), "1.0E-4");
        assert_eq!(Json::Float(4.6429).pretty(), "4.6429");
        assert_eq!(Json::uint(u64::MAX).pretty(), i64::MAX.to_string());
    }
}
