//! keepalived.conf's syntax (keepalived.conf(5)): words separated by blanks, `{ }` blocks,
//! comments from `#` or `!` to the end of the line. A statement is the words of one line and
//! the block that follows it, if any.

/// A word of the file and its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Word {
    pub(super) text: String,
    line: usize,
}

pub(super) fn words(text: &str) -> Vec<Word> {
    let mut out = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.split(['#', '!']).next().unwrap_or("");
        let spaced = line.replace('{', " { ").replace('}', " } ");
        out.extend(spaced.split_whitespace().map(|w| Word { text: w.to_owned(), line: n + 1 }));
    }
    out
}

/// A statement: its words up to the end of its line, and its block if one follows.
#[derive(Debug, Clone)]
pub(super) struct Stmt {
    pub(super) words: Vec<Word>,
    pub(super) block: Vec<Stmt>,
}

impl Stmt {
    pub(super) fn key(&self) -> &str {
        self.words.first().map_or("", |w| w.text.as_str())
    }

    pub(super) fn line(&self) -> usize {
        self.words.first().map_or(0, |w| w.line)
    }

    pub(super) fn arg(&self, i: usize) -> Option<&str> {
        self.words.get(i).map(|w| w.text.as_str())
    }
}

/// Statements until the matching `}` (or the end); `pos` moves past what was read.
pub(super) fn statements(w: &[Word], pos: &mut usize) -> Vec<Stmt> {
    let mut out: Vec<Stmt> = Vec::new();
    while *pos < w.len() {
        match w[*pos].text.as_str() {
            "}" => {
                *pos += 1;
                return out;
            }
            "{" => {
                *pos += 1;
                let block = statements(w, pos);
                match out.last_mut() {
                    Some(s) if s.block.is_empty() => s.block = block,
                    _ => out.push(Stmt { words: Vec::new(), block }),
                }
            }
            _ => {
                let line = w[*pos].line;
                let mut words = Vec::new();
                while *pos < w.len() && w[*pos].line == line && !matches!(w[*pos].text.as_str(), "{" | "}") {
                    words.push(w[*pos].clone());
                    *pos += 1;
                }
                out.push(Stmt { words, block: Vec::new() });
            }
        }
    }
    out
}
