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

/// The result of parsing a command's words: its options (in order, with values) and the rest.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Parsed {
    options: Vec<(String, Option<String>)>,
    /// The words that are not options, the command name first.
    pub args: Vec<String>,
}

impl Parsed {
    pub fn has(&self, flag: char) -> bool {
        self.has_option(flag.encode_utf8(&mut [0; 4]))
    }

    /// The value of the first occurrence of `flag` (`CommandLine.getOptionValue`).
    pub fn value(&self, flag: char) -> Option<&str> {
        self.option_value(flag.encode_utf8(&mut [0; 4]))
    }

    /// `CommandLine.hasOption` for an option of any length (`-file`).
    pub fn has_option(&self, name: &str) -> bool {
        self.options.iter().any(|(n, _)| n == name)
    }

    /// `CommandLine.getOptionValue` for an option of any length.
    pub fn option_value(&self, name: &str) -> Option<&str> {
        self.options.iter().find(|(n, _)| n == name).and_then(|(_, v)| v.as_deref())
    }
}

/// commons-cli 1.5 `DefaultParser.parse(options, words)` for single-letter options. The error is
/// the text zkCli prints: the exception's `toString()`.
pub fn parse_flags(words: &[String], spec: Spec) -> Result<Parsed, String> {
    let names: Vec<String> = spec.iter().map(|(c, _)| c.to_string()).collect();
    let named: Vec<(&str, bool)> = names.iter().zip(spec).map(|(n, (_, v))| (n.as_str(), *v)).collect();
    parse_options(words, &named)
}

/// commons-cli 1.5 `DefaultParser.parse(options, words)` for options made with
/// `Options.addOption(name, hasArg, description)`: short options, of one letter (`-s`) or more
/// (ReconfigCommand's `-file`), none with a long name and none taking more than one value.
pub fn parse_options(words: &[String], spec: &[(&str, bool)]) -> Result<Parsed, String> {
    let mut parser = DefaultParser { spec, parsed: Parsed::default(), current: None, skip_parsing: false };
    for t in words {
        parser.handle_token(t)?;
    }
    parser.check_required_args()?;
    Ok(parser.parsed)
}

/// `DefaultParser`'s state: `currentOption` is the option (an index into `parsed.options`) that
/// still waits for its value.
struct DefaultParser<'a> {
    spec: &'a [(&'a str, bool)],
    parsed: Parsed,
    current: Option<usize>,
    skip_parsing: bool,
}

impl<'a> DefaultParser<'a> {
    /// `Options.getOption`: the name without its leading hyphens.
    fn option(&self, name: &str) -> Option<(&'a str, bool)> {
        let bare = name.strip_prefix("--").or_else(|| name.strip_prefix('-')).unwrap_or(name);
        self.spec.iter().find(|(n, _)| *n == bare).copied()
    }

    /// `isShortOption` (`isLongOption` never holds: there are no long names): `-S`, `-S=V`,
    /// or a word starting with a one-letter option (`-S1S2`, `-SV`).
    fn is_option(&self, t: &str) -> bool {
        let Some(body) = t.strip_prefix('-').filter(|b| !b.is_empty()) else { return false };
        let name = body.split('=').next().unwrap_or("");
        self.option(name).is_some() || name.chars().next().is_some_and(|c| self.option(&c.to_string()).is_some())
    }

    /// `isArgument`.
    fn is_argument(&self, t: &str) -> bool {
        !self.is_option(t) || is_negative_number(t)
    }

    fn handle_token(&mut self, t: &str) -> Result<(), String> {
        if self.skip_parsing {
            self.parsed.args.push(t.to_string());
        } else if t == "--" {
            self.skip_parsing = true;
        } else if self.current.is_some() && self.is_argument(t) {
            self.set_value(strip_leading_and_trailing_quotes(t));
        } else if t.starts_with("--") {
            // handleLongOption: no option has a long name.
            return Err(unrecognized(t));
        } else if t.starts_with('-') && t != "-" {
            self.handle_short_and_long_option(t)?;
        } else {
            self.parsed.args.push(t.to_string());
        }
        Ok(())
    }

    /// `handleShortAndLongOption` without its long-option branches (no long names, no option
    /// taking several values).
    fn handle_short_and_long_option(&mut self, token: &str) -> Result<(), String> {
        let t = &token[1..];
        match t.split_once('=') {
            // -S, -file
            None if self.option(t).is_some() => self.handle_option(t),
            None if t.chars().count() == 1 => Err(unrecognized(token)),
            None => self.handle_concatenated_options(token),
            // -S=V: only for a one-letter option that takes a value.
            Some((name, value)) => match self.option(name) {
                Some((n, true)) if name.chars().count() == 1 => {
                    self.handle_option(n)?;
                    self.set_value(value);
                    Ok(())
                }
                _ => Err(unrecognized(token)),
            },
        }
    }

    /// `handleConcatenatedOptions`: `-S1S2S3`, or `-S1S2V` where the first option taking a value
    /// gets the rest of the word.
    fn handle_concatenated_options(&mut self, token: &str) -> Result<(), String> {
        for (i, c) in token.char_indices().skip(1) {
            let letter = c.to_string();
            if self.option(&letter).is_none() {
                return Err(unrecognized(token));
            }
            self.handle_option(&letter)?;
            let rest = &token[i + c.len_utf8()..];
            if self.current.is_some() && !rest.is_empty() {
                self.set_value(rest);
                break;
            }
        }
        Ok(())
    }

    /// `handleOption`: an option still waiting for its value is now missing it.
    fn handle_option(&mut self, name: &str) -> Result<(), String> {
        self.check_required_args()?;
        let (name, takes_value) = self.option(name).expect("handleOption is given known options");
        self.parsed.options.push((name.to_string(), None));
        self.current = takes_value.then(|| self.parsed.options.len() - 1);
        Ok(())
    }

    fn set_value(&mut self, value: &str) {
        if let Some(i) = self.current.take() {
            self.parsed.options[i].1 = Some(value.to_string());
        }
    }

    /// `checkRequiredArgs`.
    fn check_required_args(&self) -> Result<(), String> {
        match self.current {
            Some(i) => Err(format!(
                "org.apache.commons.cli.MissingArgumentException: Missing argument for option: {}",
                self.parsed.options[i].0
            )),
            None => Ok(()),
        }
    }
}

fn unrecognized(t: &str) -> String {
    format!("org.apache.commons.cli.UnrecognizedOptionException: Unrecognized option: {t}")
}

/// `Util.stripLeadingAndTrailingQuotes`: one pair of double quotes around a value with no other
/// double quote in it.
fn strip_leading_and_trailing_quotes(t: &str) -> &str {
    match t.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
        Some(inner) if !inner.contains('"') => inner,
        _ => t,
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
        // Checked with zkCli.sh 3.8: `--s` names the option s (Options strips the hyphens), so it
        // is no value for -v; `-s=1` is refused before -v is found to lack its value.
        assert_eq!(
            parse_flags(&w(&["set", "-v", "--s", "/a", "x"]), SET).unwrap_err(),
            "org.apache.commons.cli.UnrecognizedOptionException: Unrecognized option: --s"
        );
        assert_eq!(
            parse_flags(&w(&["set", "-v", "-s=1", "/a", "x"]), SET).unwrap_err(),
            "org.apache.commons.cli.UnrecognizedOptionException: Unrecognized option: -s=1"
        );
        assert_eq!(parse_flags(&w(&["set", "-v", "--x", "/a", "x"]), SET).unwrap().value('v'), Some("--x"));
        assert_eq!(parse_flags(&w(&["set", "-v", "\"4\"", "/a", "x"]), SET).unwrap().value('v'), Some("4"));
        assert_eq!(parse_flags(&w(&["set", "-v4\"", "/a", "x"]), SET).unwrap().value('v'), Some("4\""));
        assert_eq!(parse_flags(&w(&["get", "-", "/a"]), SET).unwrap().args, ["get", "-", "/a"]);
        assert_eq!(parse_flags(&w(&["get", "--", "-s", "/a"]), SET).unwrap().args, ["get", "-s", "/a"]);
    }

    #[test]
    fn options_of_several_letters() {
        const SPEC: &[(&str, bool)] = &[("s", false), ("file", true)];
        let p = parse_options(&w(&["cmd", "-file", "f", "-s", "x"]), SPEC).unwrap();
        assert!(p.has_option("file") && p.has('s'));
        assert_eq!((p.option_value("file"), p.args.as_slice()), (Some("f"), &w(&["cmd", "x"])[..]));
        let unknown = |t: &str| format!("org.apache.commons.cli.UnrecognizedOptionException: Unrecognized option: {t}");
        for t in ["-fil", "-file=f", "-sfile", "-files"] {
            assert_eq!(parse_options(&w(&["cmd", t]), SPEC).unwrap_err(), unknown(t));
        }
        assert_eq!(
            parse_options(&w(&["cmd", "-file", "-s"]), SPEC).unwrap_err(),
            "org.apache.commons.cli.MissingArgumentException: Missing argument for option: file"
        );
        assert_eq!(parse_options(&w(&["cmd", "-file", "-fil"]), SPEC).unwrap().option_value("file"), Some("-fil"));
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
