//! A write statement and its one parameter list, bound by sqlx (PostgreSQL) and rusqlite (SQLite's writer).
//!
//! Each write statement is written once: its SQL text (`$N` placeholders) and
//! a list of values in `$1..$n` order. Both binders walk that list, so the two
//! backends cannot bind in different orders. The statements over many columns
//! (`calls`) are made from a column table (`Column`): the SQL text, its
//! placeholders and the values all come from the same rows, so a new column
//! is one row there, never a 26th placeholder typed by hand.

use std::borrow::Cow;

use smallvec::SmallVec;

/// One bound value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value<'a> {
    Text(Option<Cow<'a, str>>),
    Int(Option<i64>),
    Bool(bool),
}

impl Value<'_> {
    /// The same value owning its text (to cross into the writer thread).
    pub fn into_owned(self) -> Value<'static> {
        match self {
            Value::Text(t) => Value::Text(t.map(|t| Cow::Owned(t.into_owned()))),
            Value::Int(i) => Value::Int(i),
            Value::Bool(b) => Value::Bool(b),
        }
    }
}

impl<'a> From<&'a str> for Value<'a> {
    fn from(s: &'a str) -> Self {
        Value::Text(Some(Cow::Borrowed(s)))
    }
}

impl<'a> From<&'a String> for Value<'a> {
    fn from(s: &'a String) -> Self {
        Value::Text(Some(Cow::Borrowed(s)))
    }
}

impl<'a> From<Option<&'a str>> for Value<'a> {
    fn from(s: Option<&'a str>) -> Self {
        Value::Text(s.map(Cow::Borrowed))
    }
}

impl<'a> From<&'a Option<String>> for Value<'a> {
    fn from(s: &'a Option<String>) -> Self {
        Value::Text(s.as_deref().map(Cow::Borrowed))
    }
}

impl From<String> for Value<'_> {
    fn from(s: String) -> Self {
        Value::Text(Some(Cow::Owned(s)))
    }
}

impl From<i64> for Value<'_> {
    fn from(i: i64) -> Self {
        Value::Int(Some(i))
    }
}

impl From<Option<i64>> for Value<'_> {
    fn from(i: Option<i64>) -> Self {
        Value::Int(i)
    }
}

impl From<bool> for Value<'_> {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

/// Parameters kept inline up to this many (the widest statement, `calls`' insert, has 41).
const INLINE_PARAMS: usize = 48;

/// The values of `$1..$n`, in order.
pub type Params<'a> = SmallVec<[Value<'a>; INLINE_PARAMS]>;

/// A write: its SQL text and the values of its placeholders.
#[derive(Clone, Debug)]
pub struct Statement<'a> {
    pub sql: &'static str,
    pub params: Params<'a>,
}

impl<'a> Statement<'a> {
    pub fn new(sql: &'static str, params: impl IntoIterator<Item = Value<'a>>) -> Self {
        Self {
            sql,
            params: params.into_iter().collect(),
        }
    }

    /// The same statement owning its values.
    pub fn into_owned(self) -> Statement<'static> {
        Statement {
            sql: self.sql,
            params: self.params.into_iter().map(Value::into_owned).collect(),
        }
    }
}

/// One column of a table: its name and how a row's value is read from `T`.
pub struct Column<T: 'static> {
    pub name: &'static str,
    pub value: for<'a> fn(&'a T) -> Value<'a>,
}

/// `INSERT INTO table (c1, …, cn) VALUES ($1, …, $n)`.
pub fn insert_sql<T>(table: &str, columns: &[Column<T>]) -> String {
    let names: Vec<&str> = columns.iter().map(|c| c.name).collect();
    let marks: Vec<String> = (1..=columns.len()).map(|i| format!("${i}")).collect();
    format!(
        "INSERT INTO {table} ({}) VALUES ({})",
        names.join(", "),
        marks.join(", ")
    )
}

/// The columns of `all` named `names`, in the order of `names` (each name must be a column).
pub fn named<T>(all: &'static [Column<T>], names: &[&str]) -> Vec<&'static Column<T>> {
    names
        .iter()
        .map(|n| {
            all.iter()
                .find(|c| c.name == *n)
                .unwrap_or_else(|| panic!("no column {n}"))
        })
        .collect()
}

/// `UPDATE table SET c2 = $2, … WHERE key = $1 AND guard = $n+1`: the first
/// column is the key, `guard` is compared with one more value after the columns.
pub fn update_sql<T>(table: &str, columns: &[&Column<T>], guard: &str) -> String {
    let (key, set) = columns.split_first().expect("an update names its key column");
    let set: Vec<String> = set
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{} = ${}", c.name, i + 2))
        .collect();
    format!(
        "UPDATE {table} SET {} WHERE {} = $1 AND {guard} = ${}",
        set.join(", "),
        key.name,
        columns.len() + 1
    )
}

/// The values of `columns` for `row`, in order.
pub fn values<'a, 'c, T: 'static>(columns: impl IntoIterator<Item = &'c Column<T>>, row: &'a T) -> Params<'a> {
    columns.into_iter().map(|c| (c.value)(row)).collect()
}

/// Writes `$n` into `buf` and returns it: the placeholder names SQLite binds by.
pub fn placeholder(n: usize, buf: &mut [u8; 24]) -> &str {
    use std::io::Write;
    let mut cursor = std::io::Cursor::new(&mut buf[..]);
    // A usize has at most 20 digits: this cannot run out of room.
    let _ = write!(cursor, "${n}");
    let len = cursor.position() as usize;
    std::str::from_utf8(&buf[..len]).unwrap_or("$")
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Row {
        id: String,
        n: i64,
        note: Option<String>,
    }

    const COLS: &[Column<Row>] = &[
        Column {
            name: "id",
            value: |r| (&r.id).into(),
        },
        Column {
            name: "n",
            value: |r| r.n.into(),
        },
        Column {
            name: "note",
            value: |r| (&r.note).into(),
        },
    ];

    #[test]
    fn an_insert_has_one_placeholder_per_column_in_order() {
        assert_eq!(insert_sql("t", COLS), "INSERT INTO t (id, n, note) VALUES ($1, $2, $3)");
    }

    #[test]
    fn an_update_keys_on_the_first_column_and_guards_after_the_last() {
        assert_eq!(
            update_sql("t", &named(COLS, &["id", "n", "note"]), "version"),
            "UPDATE t SET n = $2, note = $3 WHERE id = $1 AND version = $4"
        );
        assert_eq!(
            update_sql("t", &named(COLS, &["id", "note"]), "version"),
            "UPDATE t SET note = $2 WHERE id = $1 AND version = $3"
        );
    }

    #[test]
    fn values_follow_the_columns() {
        let row = Row {
            id: "a".into(),
            n: 7,
            note: None,
        };
        let v = values(COLS, &row);
        assert_eq!(
            v.as_slice(),
            &[Value::from("a"), Value::Int(Some(7)), Value::Text(None)]
        );
        assert!(!v.spilled(), "kept inline");
    }

    #[test]
    fn owned_values_are_equal_to_borrowed_ones() {
        let s = String::from("x");
        let stmt = Statement::new("SELECT $1", [Value::from(&s), Value::Bool(true)]);
        let owned = stmt.clone().into_owned();
        let owned_values: &[Value<'_>] = &owned.params;
        assert_eq!(owned_values, &stmt.params[..]);
        assert!(matches!(&owned.params[0], Value::Text(Some(Cow::Owned(_)))));
    }

    #[test]
    fn placeholders_are_named_by_number() {
        let mut buf = [0u8; 24];
        assert_eq!(placeholder(1, &mut buf), "$1");
        assert_eq!(placeholder(25, &mut buf), "$25");
        assert_eq!(placeholder(1234, &mut buf), "$1234");
    }
}
