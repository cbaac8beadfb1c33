//! The JAAS login configuration file ZooKeeper's server reads (`java.security.auth.login.config`):
//! only the grammar, as `sun.security.provider.ConfigFile` parses it.
//!
//! ```text
//! file    := section*
//! section := NAME '{' entry* '}' ';'
//! entry   := MODULE-CLASS FLAG (NAME '=' VALUE)* ';'     FLAG: required|requisite|sufficient|optional
//! VALUE   := "quoted string" | word
//! ```
//! `//` and `/* */` comments are allowed anywhere between tokens.

/// One login module line of a section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The login module's class, e.g. `org.apache.zookeeper.server.auth.DigestLoginModule`.
    pub module: String,
    pub flag: String,
    /// The options in file order (`user_bob="secret"` is `("user_bob", "secret")`).
    pub options: Vec<(String, String)>,
}

/// A parsed file: each section's name and entries, in file order.
pub type Sections = Vec<(String, Vec<Entry>)>;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Word(String),
    Quoted(String),
    Punct(char),
}

/// The tokens of `text`, each with its line number.
fn tokens(text: &str) -> Result<Vec<(usize, Token)>, String> {
    let mut out = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let (mut i, mut line) = (0, 1);
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '/' && chars.get(i + 1) == Some(&'/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && chars.get(i + 1) == Some(&'*') {
            let start = line;
            i += 2;
            while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                line += usize::from(chars[i] == '\n');
                i += 1;
            }
            if i >= chars.len() {
                return Err(format!("line {start}: unterminated comment"));
            }
            i += 2;
        } else if c == '"' {
            let start = line;
            let mut s = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err(format!("line {start}: unterminated quoted string")),
                    Some('"') => break,
                    Some('\\') if i + 1 < chars.len() => {
                        s.push(chars[i + 1]);
                        i += 2;
                    }
                    Some(&ch) => {
                        line += usize::from(ch == '\n');
                        s.push(ch);
                        i += 1;
                    }
                }
            }
            i += 1;
            out.push((start, Token::Quoted(s)));
        } else if matches!(c, '{' | '}' | ';' | '=') {
            out.push((line, Token::Punct(c)));
            i += 1;
        } else {
            let start = i;
            while i < chars.len() && !chars[i].is_whitespace() && !matches!(chars[i], '{' | '}' | ';' | '=' | '"') {
                i += 1;
            }
            out.push((line, Token::Word(chars[start..i].iter().collect())));
        }
    }
    Ok(out)
}

/// Parses a JAAS configuration file's text. Errors name the line.
pub fn parse(text: &str) -> Result<Sections, String> {
    let toks = tokens(text)?;
    let last_line = toks.last().map_or(1, |t| t.0);
    let mut toks = toks.into_iter().peekable();
    let mut sections = Vec::new();
    while toks.peek().is_some() {
        let mut next = |what: &str| -> Result<(usize, Token), String> {
            toks.next().ok_or_else(|| format!("line {last_line}: expected {what}, found the end"))
        };
        let (line, name) = next("a section name")?;
        let Token::Word(name) = name else { return Err(format!("line {line}: expected a section name")) };
        expect(next("'{'")?, '{')?;
        let mut entries = Vec::new();
        loop {
            let (line, t) = next("a login module or '}'")?;
            let module = match t {
                Token::Punct('}') => break,
                Token::Word(w) => w,
                _ => return Err(format!("line {line}: expected a login module class")),
            };
            let (line, flag) = next("a control flag")?;
            let flag = match flag {
                Token::Word(f) if ["required", "requisite", "sufficient", "optional"].contains(&f.as_str()) => f,
                _ => return Err(format!("line {line}: expected required, requisite, sufficient or optional")),
            };
            let mut options = Vec::new();
            loop {
                let (line, t) = next("an option or ';'")?;
                match t {
                    Token::Punct(';') => break,
                    Token::Word(key) => {
                        expect(next("'='")?, '=')?;
                        match next("a value")? {
                            (_, Token::Word(v) | Token::Quoted(v)) => options.push((key, v)),
                            (line, _) => return Err(format!("line {line}: expected a value for {key}")),
                        }
                    }
                    _ => return Err(format!("line {line}: expected an option name or ';'")),
                }
            }
            entries.push(Entry { module, flag, options });
        }
        expect(next("';'")?, ';')?;
        sections.push((name, entries));
    }
    Ok(sections)
}

fn expect((line, t): (usize, Token), want: char) -> Result<(), String> {
    match t {
        Token::Punct(c) if c == want => Ok(()),
        _ => Err(format!("line {line}: expected '{want}'")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zookeeper_server_section() {
        let text = r#"
            // as in ZooKeeper's SASL guide
            Server {
                   org.apache.zookeeper.server.auth.DigestLoginModule required
                   user_super="adminsecret"
                   user_bob="bob\"secret";
            };
            /* the client side */
            Client { org.apache.zookeeper.server.auth.DigestLoginModule required username=bob password="x"; };
        "#;
        let s = parse(text).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].0, "Server");
        assert_eq!(s[0].1[0].module, "org.apache.zookeeper.server.auth.DigestLoginModule");
        assert_eq!(
            s[0].1[0].options,
            [("user_super".into(), "adminsecret".into()), ("user_bob".into(), "bob\"secret".into())]
        );
        assert_eq!(s[1].1[0].options[0], ("username".into(), "bob".into()));
    }

    #[test]
    fn errors_name_the_line() {
        assert_eq!(parse("Server {\n m required a=\"b\"\n};").unwrap_err(), "line 3: expected an option name or ';'");
        assert_eq!(
            parse("Server {\n m always;\n};").unwrap_err(),
            "line 2: expected required, requisite, sufficient or optional"
        );
        assert!(parse("Server { m required a=\"b;").unwrap_err().contains("unterminated quoted string"));
        assert!(parse("Server { m required; }").unwrap_err().contains("expected ';'"));
        assert_eq!(parse("").unwrap(), vec![]);
    }
}
