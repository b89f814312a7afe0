//! SQL with named parameters (`:msisdn`), written once for every engine and translated per driver:
//! PostgreSQL gets `$1, $2, …`; MySQL and SQLite get `?`. Values are always bound, never spliced.

/// The driver a URL selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    Postgres,
    MySql,
    Sqlite,
}

impl Driver {
    /// Picks the driver from a URL's scheme.
    pub fn from_url(url: &str) -> Option<Driver> {
        let scheme = url.split(':').next()?.to_ascii_lowercase();
        match scheme.as_str() {
            "postgres" | "postgresql" => Some(Driver::Postgres),
            "mysql" | "mariadb" => Some(Driver::MySql),
            "sqlite" => Some(Driver::Sqlite),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Driver::Postgres => "postgres",
            Driver::MySql => "mysql",
            Driver::Sqlite => "sqlite",
        }
    }
}

/// A parsed statement: the text split around its named parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct SqlTemplate {
    /// Literal pieces; `pieces.len() == params.len() + 1`.
    pieces: Vec<String>,
    /// Parameter names in order of occurrence.
    pub params: Vec<String>,
}

impl SqlTemplate {
    /// Parses `sql`, accepting only parameters in `allowed`. Quotes, comments and PostgreSQL `::casts`
    /// are skipped.
    pub fn parse(sql: &str, allowed: &[&str]) -> Result<SqlTemplate, String> {
        let b = sql.as_bytes();
        let mut pieces = Vec::new();
        let mut params = Vec::new();
        let mut cur = String::new();
        let mut i = 0;
        while i < b.len() {
            let c = b[i];
            match c {
                b'\'' | b'"' | b'`' => {
                    let end = find_close(b, i + 1, c).ok_or_else(|| format!("unterminated quote at byte {i}"))?;
                    cur.push_str(&sql[i..=end]);
                    i = end + 1;
                }
                b'-' if b.get(i + 1) == Some(&b'-') => {
                    let end = sql[i..].find('\n').map(|n| i + n).unwrap_or(b.len());
                    cur.push_str(&sql[i..end]);
                    i = end;
                }
                b'/' if b.get(i + 1) == Some(&b'*') => {
                    let end = sql[i + 2..]
                        .find("*/")
                        .map(|n| i + 2 + n + 2)
                        .ok_or("unterminated comment")?;
                    cur.push_str(&sql[i..end]);
                    i = end;
                }
                b':' if b.get(i + 1) == Some(&b':') => {
                    cur.push_str("::");
                    i += 2;
                }
                b':' if b.get(i + 1).is_some_and(|n| n.is_ascii_alphabetic() || *n == b'_') => {
                    let start = i + 1;
                    let mut end = start;
                    while end < b.len() && (b[end].is_ascii_alphanumeric() || b[end] == b'_') {
                        end += 1;
                    }
                    let name = &sql[start..end];
                    if !allowed.contains(&name) {
                        return Err(format!(
                            "unknown parameter `:{name}` (allowed here: {})",
                            allowed.iter().map(|a| format!(":{a}")).collect::<Vec<_>>().join(", ")
                        ));
                    }
                    pieces.push(std::mem::take(&mut cur));
                    params.push(name.to_string());
                    i = end;
                }
                b'?' => {
                    return Err(format!(
                        "positional `?` at byte {i}: use named parameters such as :msisdn"
                    ))
                }
                b'$' if b.get(i + 1).is_some_and(|n| n.is_ascii_digit()) => {
                    return Err(format!(
                        "positional `$n` at byte {i}: use named parameters such as :msisdn"
                    ))
                }
                _ => {
                    let ch = sql[i..].chars().next().expect("in bounds");
                    cur.push(ch);
                    i += ch.len_utf8();
                }
            }
        }
        pieces.push(cur);
        let trimmed = pieces.last().map(|p| p.trim_end().trim_end_matches(';').to_string());
        if let (Some(t), Some(last)) = (trimmed, pieces.last_mut()) {
            *last = t;
        }
        if sql.trim().is_empty() {
            return Err("empty statement".into());
        }
        Ok(SqlTemplate { pieces, params })
    }

    /// The statement for one driver, and the parameter names in bind order.
    pub fn render(&self, driver: Driver) -> (String, Vec<String>) {
        let mut out = String::with_capacity(self.pieces.iter().map(|p| p.len() + 3).sum());
        let mut binds = Vec::new();
        let mut pg_numbers: Vec<String> = Vec::new();
        for (i, piece) in self.pieces.iter().enumerate() {
            out.push_str(piece);
            if let Some(name) = self.params.get(i) {
                match driver {
                    Driver::Postgres => {
                        let n = match pg_numbers.iter().position(|p| p == name) {
                            Some(n) => n,
                            None => {
                                pg_numbers.push(name.clone());
                                binds.push(name.clone());
                                pg_numbers.len() - 1
                            }
                        };
                        out.push_str(&format!("${}", n + 1));
                    }
                    Driver::MySql | Driver::Sqlite => {
                        out.push('?');
                        binds.push(name.clone());
                    }
                }
            }
        }
        (out, binds)
    }
}

fn find_close(b: &[u8], mut i: usize, q: u8) -> Option<usize> {
    while i < b.len() {
        if b[i] == q {
            if b.get(i + 1) == Some(&q) {
                i += 2;
                continue;
            }
            return Some(i);
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_per_driver() {
        let t = SqlTemplate::parse(
            "SELECT a::text, ':x' FROM t WHERE m = :msisdn AND o = :operator_id OR m2 = :msisdn -- :nope\n",
            &["msisdn", "operator_id"],
        )
        .unwrap();
        let (pg, binds) = t.render(Driver::Postgres);
        assert_eq!(
            pg,
            "SELECT a::text, ':x' FROM t WHERE m = $1 AND o = $2 OR m2 = $1 -- :nope"
        );
        assert_eq!(binds, vec!["msisdn", "operator_id"]);
        let (my, binds) = t.render(Driver::MySql);
        assert_eq!(
            my,
            "SELECT a::text, ':x' FROM t WHERE m = ? AND o = ? OR m2 = ? -- :nope"
        );
        assert_eq!(binds, vec!["msisdn", "operator_id", "msisdn"]);
    }

    #[test]
    fn rejects_unknown_and_positional_parameters() {
        let e = SqlTemplate::parse("select 1 where a = :who", &["msisdn"]).unwrap_err();
        assert!(e.contains("unknown parameter `:who`"), "{e}");
        assert!(SqlTemplate::parse("select 1 where a = ?", &["msisdn"])
            .unwrap_err()
            .contains("positional"));
        assert!(SqlTemplate::parse("select 'open", &["msisdn"])
            .unwrap_err()
            .contains("unterminated"));
    }

    #[test]
    fn driver_from_url() {
        assert_eq!(Driver::from_url("postgres://u:p@h/db"), Some(Driver::Postgres));
        assert_eq!(Driver::from_url("mysql://root@127.0.0.1/x"), Some(Driver::MySql));
        assert_eq!(Driver::from_url("sqlite://a.db"), Some(Driver::Sqlite));
        assert_eq!(Driver::from_url("oracle://x"), None);
    }
}
