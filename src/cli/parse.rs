//! How zkCli reads a line: `MyCommandOptions.parseCommand` splits it into words, and each command
//! reads its flags with Apache commons-cli's `DefaultParser`. Both are reproduced here, including
//! their error texts, so that odd input is treated as zkCli treats it.

/// Java's `\s`.
fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\u{0B}' | '\u{0C}' | '\r')
}

/// `parseCommand`: the matches of `\s*([^"']\S*|"[^"]*"|'[^']*')\s*`, with one pair of
/// surrounding quotes removed from each.
pub fn split_line(line: &str) -> Vec<String> {
    let chars: Vec<char> = line.chars().collect();
    let mut words = Vec::new();
    let mut pos = 0;
    while pos < chars.len() {
        match (pos..chars.len()).find_map(|start| match_word(&chars, start)) {
            Some((word, end)) => {
                words.push(unquote(&word));
                pos = end;
            }
            None => break,
        }
    }
    words
}

/// The pattern matched at `start`: the group's text and where the match ends. `\s*` is greedy
/// and gives back characters when the group cannot match after it, as a backtracking regex does.
fn match_word(chars: &[char], start: usize) -> Option<(String, usize)> {
    let mut ws_end = start;
    while ws_end < chars.len() && is_space(chars[ws_end]) {
        ws_end += 1;
    }
    (start..=ws_end).rev().find_map(|g| {
        let group_end = match *chars.get(g)? {
            q @ ('"' | '\'') => g + 1 + chars[g + 1..].iter().position(|&c| c == q)? + 1,
            _ => g + 1 + chars[g + 1..].iter().take_while(|&&c| !is_space(c)).count(),
        };
        let mut end = group_end;
        while end < chars.len() && is_space(chars[end]) {
            end += 1;
        }
        Some((chars[g..group_end].iter().collect(), end))
    })
}

/// `^(['"])(.*)(\1)$`: strips one pair of matching quotes.
fn unquote(word: &str) -> String {
    for q in ['"', '\''] {
        if word.len() >= 2 && word.starts_with(q) && word.ends_with(q) {
            return word[1..word.len() - 1].to_string();
        }
    }
    word.to_string()
}

/// The flags a command accepts: a letter and whether it takes a value.
pub type Spec = &'static [(char, bool)];

/// The result of parsing a command's words: its flags (in order, with values) and the rest.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Parsed {
    flags: Vec<(char, Option<String>)>,
    /// The words that are not flags, the command name first.
    pub args: Vec<String>,
}

impl Parsed {
    pub fn has(&self, flag: char) -> bool {
        self.flags.iter().any(|(f, _)| *f == flag)
    }

    /// The value of the first occurrence of `flag` (`CommandLine.getOptionValue`).
    pub fn value(&self, flag: char) -> Option<&str> {
        self.flags.iter().find(|(f, _)| *f == flag).and_then(|(_, v)| v.as_deref())
    }
}

/// commons-cli 1.5 `DefaultParser.parse(options, words)` for single-letter options. The error is
/// the text zkCli prints: the exception's `toString()`.
pub fn parse_flags(words: &[String], spec: Spec) -> Result<Parsed, String> {
    let known = |c: char| spec.iter().find(|(f, _)| *f == c).copied();
    let is_option = |t: &str| -> bool {
        let Some(name) = t.strip_prefix('-') else { return false };
        let name = name.split('=').next().unwrap_or("");
        name.chars().next().is_some_and(|c| known(c).is_some())
    };
    let missing =
        |f: char| format!("org.apache.commons.cli.MissingArgumentException: Missing argument for option: {f}");
    let unknown = |t: &str| format!("org.apache.commons.cli.UnrecognizedOptionException: Unrecognized option: {t}");

    let mut p = Parsed::default();
    // The flag (index into p.flags) still waiting for its value.
    let mut waiting: Option<usize> = None;
    let mut skip_parsing = false;
    for t in words {
        if skip_parsing {
            p.args.push(t.clone());
            continue;
        }
        if t == "--" {
            skip_parsing = true;
            continue;
        }
        if let Some(i) = waiting {
            if !is_option(t) || is_negative_number(t) {
                p.flags[i].1 = Some(t.clone());
                waiting = None;
                continue;
            }
        }
        if !t.starts_with('-') || t == "-" {
            p.args.push(t.clone());
            continue;
        }
        if t.starts_with("--") {
            return Err(unknown(t));
        }
        // A new option: one still waiting for its value is now missing it.
        if let Some(i) = waiting {
            return Err(missing(p.flags[i].0));
        }
        let body: Vec<char> = t[1..].chars().collect();
        if let Some(eq) = body.iter().position(|&c| c == '=') {
            // -v=5
            match (eq, known(body[0])) {
                (1, Some((f, true))) => p.flags.push((f, Some(body[2..].iter().collect()))),
                _ => return Err(unknown(t)),
            }
            continue;
        }
        // -s, -se, -v5: letters until one takes a value, which gets the rest of the word.
        for (i, &c) in body.iter().enumerate() {
            let Some((f, takes_value)) = known(c) else { return Err(unknown(t)) };
            if !takes_value {
                p.flags.push((f, None));
                continue;
            }
            if i + 1 < body.len() {
                p.flags.push((f, Some(body[i + 1..].iter().collect())));
            } else {
                p.flags.push((f, None));
                waiting = Some(p.flags.len() - 1);
            }
            break;
        }
    }
    match waiting {
        Some(i) => Err(missing(p.flags[i].0)),
        None => Ok(p),
    }
}

/// commons-cli's `isNegativeNumber`: a word Java's `Double.parseDouble` accepts.
fn is_negative_number(t: &str) -> bool {
    let s = t.trim_end_matches(['d', 'D', 'f', 'F']);
    t.starts_with('-') && (s.parse::<f64>().is_ok() || matches!(&s[1..], "Infinity" | "NaN"))
}

/// `Integer.decode`: decimal, `0x`/`0X`/`#` hex or leading-zero octal, with an optional sign.
pub fn java_decode(s: &str) -> Option<i32> {
    let (neg, digits) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let (radix, digits) = if let Some(h) = digits.strip_prefix("0x").or_else(|| digits.strip_prefix("0X")) {
        (16, h)
    } else if let Some(h) = digits.strip_prefix('#') {
        (16, h)
    } else if digits.len() > 1 && digits.starts_with('0') {
        (8, &digits[1..])
    } else {
        (10, digits)
    };
    if digits.is_empty() || digits.starts_with(['-', '+']) {
        return None;
    }
    let v = i64::from_str_radix(digits, radix).ok()?;
    i32::try_from(if neg { -v } else { v }).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn words_as_parse_command_splits_them() {
        assert_eq!(split_line("ls /"), ["ls", "/"]);
        assert_eq!(split_line("  create  /a   b  "), ["create", "/a", "b"]);
        assert_eq!(
            split_line("create /q \"quoted arg\" 'world:anyone:r'"),
            ["create", "/q", "quoted arg", "world:anyone:r"]
        );
        assert_eq!(split_line("create \"/sp ace\" a"), ["create", "/sp ace", "a"]);
        assert_eq!(split_line("set /a x\"y z\""), ["set", "/a", "x\"y", "z\""]);
        assert_eq!(split_line("set /a \"\""), ["set", "/a", ""]);
        // Unmatched quotes, checked against java.util.regex with zkCli's pattern: the quote is
        // skipped, or, at the start of the line, the regex backtracks into the spaces before it.
        assert_eq!(split_line("get \"abc"), ["get", "abc"]);
        assert_eq!(split_line("  \"abc"), [" \"abc"]);
        assert_eq!(split_line("a 'b c' \"d'e\" 'f"), ["a", "b c", "d'e", "f"]);
        assert_eq!(split_line("   "), [" "]);
        assert_eq!(split_line(""), [] as [String; 0]);
    }

    #[test]
    fn flags_as_default_parser_reads_them() {
        const SET: Spec = &[('s', false), ('v', true)];
        let p = parse_flags(&w(&["set", "-s", "-v", "3", "/a", "x"]), SET).unwrap();
        assert!(p.has('s'));
        assert_eq!(p.value('v'), Some("3"));
        assert_eq!(p.args, ["set", "/a", "x"]);
        let p = parse_flags(&w(&["set", "/a", "x", "-sv5"]), SET).unwrap();
        assert_eq!((p.has('s'), p.value('v')), (true, Some("5")));
        assert_eq!(parse_flags(&w(&["set", "-v", "-1", "/a", "x"]), SET).unwrap().value('v'), Some("-1"));
        assert_eq!(parse_flags(&w(&["set", "-v=7", "/a", "x"]), SET).unwrap().value('v'), Some("7"));
        assert_eq!(
            parse_flags(&w(&["set", "/a", "x", "-v"]), SET).unwrap_err(),
            "org.apache.commons.cli.MissingArgumentException: Missing argument for option: v"
        );
        assert_eq!(
            parse_flags(&w(&["set", "-v", "-s", "/a", "x"]), SET).unwrap_err(),
            "org.apache.commons.cli.MissingArgumentException: Missing argument for option: v"
        );
        assert_eq!(
            parse_flags(&w(&["set", "-x", "/a"]), SET).unwrap_err(),
            "org.apache.commons.cli.UnrecognizedOptionException: Unrecognized option: -x"
        );
        assert_eq!(
            parse_flags(&w(&["set", "-sx", "/a"]), SET).unwrap_err(),
            "org.apache.commons.cli.UnrecognizedOptionException: Unrecognized option: -sx"
        );
        assert_eq!(parse_flags(&w(&["get", "-", "/a"]), SET).unwrap().args, ["get", "-", "/a"]);
        assert_eq!(parse_flags(&w(&["get", "--", "-s", "/a"]), SET).unwrap().args, ["get", "-s", "/a"]);
    }

    #[test]
    fn integer_decode() {
        assert_eq!(java_decode("12"), Some(12));
        assert_eq!(java_decode("-3"), Some(-3));
        assert_eq!(java_decode("0x1f"), Some(31));
        assert_eq!(java_decode("#10"), Some(16));
        assert_eq!(java_decode("010"), Some(8));
        assert_eq!(java_decode("x"), None);
        assert_eq!(java_decode("99999999999"), None);
    }
}
