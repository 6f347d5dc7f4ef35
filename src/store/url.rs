//! `DATABASE_URL` read strictly: SQLite or PostgreSQL, or a clear refusal. Pure.
//!
//! Accepted: `sqlite://path`, `sqlite:path` (query parameters are ignored),
//! a bare file path without any `:` (a SQLite file), and `postgres://…` or
//! `postgresql://…`. Anything else (a typo such as `postgress://`, another
//! database such as `mysql://`, or no path at all) is refused with a message
//! that says what was expected, instead of silently becoming a SQLite file.

/// Where the store lives.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite { path: String },
    Postgres { url: String },
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DatabaseUrl::Sqlite { path } => f.debug_struct("Sqlite").field("path", path).finish(),
            DatabaseUrl::Postgres { url } => f.debug_struct("Postgres").field("url", &redacted(url)).finish(),
        }
    }
}

/// `url` with any password (in the user part, or a `password=` parameter) replaced, for logs and `Debug`.
pub fn redacted(url: &str) -> String {
    const HIDDEN: &str = "<redacted>";
    let mut out = url.to_owned();
    if let Some(scheme_end) = out.find("://") {
        let auth_start = scheme_end + 3;
        let auth_end = out[auth_start..]
            .find(['/', '?', '#'])
            .map_or(out.len(), |i| auth_start + i);
        if let Some(at) = out[auth_start..auth_end].rfind('@').map(|i| auth_start + i)
            && let Some(colon) = out[auth_start..at].find(':').map(|i| auth_start + i)
        {
            out.replace_range(colon + 1..at, HIDDEN);
        }
    }
    if let Some(q) = out.find('?') {
        let (head, query) = out.split_at(q + 1);
        let query: Vec<String> = query
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}={HIDDEN}"),
                _ => kv.to_owned(),
            })
            .collect();
        out = format!("{head}{}", query.join("&"));
    }
    out
}

const EXPECTED: &str = "expected sqlite://path/to/file.db or postgres://user@host/database";

/// Parses `DATABASE_URL`.
pub fn parse(url: &str) -> Result<DatabaseUrl, String> {
    let url = url.trim();
    if url.is_empty() {
        return Err(format!("DATABASE_URL is empty; {EXPECTED}"));
    }
    let lower = url.to_ascii_lowercase();
    if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
        let rest = &url[url.find("://").map_or(0, |i| i + 3)..];
        if rest.is_empty() || rest == "/" {
            return Err(format!("DATABASE_URL {url:?} names no PostgreSQL server; {EXPECTED}"));
        }
        return Ok(DatabaseUrl::Postgres { url: url.to_owned() });
    }
    let path = if let Some(p) = strip_prefix_ci(url, "sqlite://").or_else(|| strip_prefix_ci(url, "sqlite:")) {
        p
    } else if let Some((scheme, _)) = url.split_once(':') {
        let known = match scheme.to_ascii_lowercase().as_str() {
            "mysql" | "mariadb" => " (MySQL/MariaDB is not supported)",
            s if s.starts_with("postgr") || s.starts_with("pg") => " (did you mean postgres://?)",
            s if s.starts_with("sq") || s.contains("lite") => " (did you mean sqlite://?)",
            _ => "",
        };
        let shown: String = scheme.chars().take(32).collect();
        return Err(format!(
            "DATABASE_URL has an unknown scheme {shown:?}{known}; {EXPECTED}"
        ));
    } else {
        url
    };
    let path = path.split('?').next().unwrap_or(path);
    if path.is_empty() || path == ":memory:" || path.starts_with("memory") {
        return Err(format!(
            "DATABASE_URL {url:?} has no SQLite file path (in-memory databases are not supported); {EXPECTED}"
        ));
    }
    Ok(DatabaseUrl::Sqlite { path: path.to_owned() })
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    (s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix)).then(|| &s[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqlite(p: &str) -> DatabaseUrl {
        DatabaseUrl::Sqlite { path: p.into() }
    }

    #[test]
    fn sqlite_and_postgres_forms_are_read() {
        assert_eq!(parse("sqlite://switchboard.db"), Ok(sqlite("switchboard.db")));
        assert_eq!(parse("sqlite:///var/lib/sb.db"), Ok(sqlite("/var/lib/sb.db")));
        assert_eq!(parse("sqlite:data/sb.db?mode=rwc"), Ok(sqlite("data/sb.db")));
        assert_eq!(parse("SQLITE://x.db"), Ok(sqlite("x.db")));
        assert_eq!(parse("  plain.db "), Ok(sqlite("plain.db")));
        assert_eq!(parse("./dir/plain.db"), Ok(sqlite("./dir/plain.db")));
        for pg in ["postgres://u@h/db", "postgresql://u:p@h:5433/db?sslmode=require"] {
            assert_eq!(parse(pg), Ok(DatabaseUrl::Postgres { url: pg.into() }));
        }
    }

    #[test]
    fn typos_and_other_databases_are_refused_with_a_hint() {
        let err = parse("postgress://x@localhost/db").unwrap_err();
        assert!(
            err.contains("unknown scheme") && err.contains("did you mean postgres://"),
            "{err}"
        );
        let err = parse("mysql://root@localhost/db").unwrap_err();
        assert!(err.contains("MySQL"), "{err}");
        let err = parse("sqllite://x.db").unwrap_err();
        assert!(err.contains("did you mean sqlite://"), "{err}");
        for bad in ["::::", "http://example.com", "c:x", "redis://localhost"] {
            let err = parse(bad).unwrap_err();
            assert!(
                err.contains("unknown scheme") && err.contains("expected"),
                "{bad}: {err}"
            );
        }
        for empty in [
            "",
            "   ",
            "sqlite://",
            "sqlite::memory:",
            "sqlite://:memory:",
            "postgres://",
        ] {
            assert!(parse(empty).is_err(), "{empty:?}");
        }
    }

    #[test]
    fn passwords_are_redacted_wherever_they_are() {
        assert_eq!(
            redacted("postgres://app:s3cr%40t@db.example:5432/crm?sslmode=require"),
            "postgres://app:<redacted>@db.example:5432/crm?sslmode=require"
        );
        assert_eq!(
            redacted("postgresql://app@db/crm?password=hunter2&sslmode=disable"),
            "postgresql://app@db/crm?password=<redacted>&sslmode=disable"
        );
        assert_eq!(redacted("postgres://db/crm"), "postgres://db/crm");
        assert_eq!(redacted("sqlite://a:b@c.db"), "sqlite://a:<redacted>@c.db");
        let dbg = format!("{:?}", parse("postgres://u:topsecret@h/d").unwrap());
        assert!(!dbg.contains("topsecret"), "{dbg}");
    }
}
