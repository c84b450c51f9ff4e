//! The overview's view as it lives in the URL (`?q=web&status=online&sort=cpu&dir=desc`),
//! so a link or a reload shows the same rows in the same order.

use crate::live::HostStatus;

/// The overview's columns, in the order shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Column {
    Host,
    Status,
    Cpu,
    Mem,
    Load,
    NetRx,
    NetTx,
    DiskRead,
    DiskWrite,
    Seen,
}

impl Column {
    pub const ALL: [Column; 10] = [
        Self::Host,
        Self::Status,
        Self::Cpu,
        Self::Mem,
        Self::Load,
        Self::NetRx,
        Self::NetTx,
        Self::DiskRead,
        Self::DiskWrite,
        Self::Seen,
    ];

    /// The value of `sort=` in the URL.
    pub fn key(self) -> &'static str {
        match self {
            Self::Host => "host",
            Self::Status => "status",
            Self::Cpu => "cpu",
            Self::Mem => "mem",
            Self::Load => "load",
            Self::NetRx => "rx",
            Self::NetTx => "tx",
            Self::DiskRead => "read",
            Self::DiskWrite => "write",
            Self::Seen => "seen",
        }
    }

    /// The header's text.
    pub fn label(self) -> &'static str {
        match self {
            Self::Host => "Host",
            Self::Status => "Status",
            Self::Cpu => "CPU",
            Self::Mem => "Memory",
            Self::Load => "Load",
            Self::NetRx => "Net in",
            Self::NetTx => "Net out",
            Self::DiskRead => "Disk read",
            Self::DiskWrite => "Disk write",
            Self::Seen => "Last seen",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.key() == s)
    }

    /// The direction a first click sorts in: the busiest hosts first for figures.
    pub fn first_direction(self) -> Direction {
        match self {
            Self::Host | Self::Status | Self::Seen => Direction::Asc,
            _ => Direction::Desc,
        }
    }

    /// Figures align right, text left.
    pub fn numeric(self) -> bool {
        !matches!(self, Self::Host | Self::Status | Self::Seen)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Asc,
    Desc,
}

impl Direction {
    pub fn key(self) -> &'static str {
        match self {
            Self::Asc => "asc",
            Self::Desc => "desc",
        }
    }

    /// The value of `aria-sort` on the sorted column's header.
    pub fn aria(self) -> &'static str {
        match self {
            Self::Asc => "ascending",
            Self::Desc => "descending",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusFilter {
    All,
    Only(HostStatus),
}

impl StatusFilter {
    pub const ALL: [StatusFilter; 4] = [
        Self::All,
        Self::Only(HostStatus::Online),
        Self::Only(HostStatus::Stale),
        Self::Only(HostStatus::Offline),
    ];

    pub fn key(self) -> &'static str {
        match self {
            Self::All => "all",
            Self::Only(status) => status.as_str(),
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::All => "All",
            Self::Only(HostStatus::Online) => "Online",
            Self::Only(HostStatus::Stale) => "Stale",
            Self::Only(HostStatus::Offline) => "Offline",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.key() == s)
    }
}

/// What the overview shows: the defaults are left out of the URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OverviewQuery {
    pub q: String,
    pub status: StatusFilter,
    pub sort: Column,
    pub dir: Direction,
}

impl Default for OverviewQuery {
    fn default() -> Self {
        Self {
            q: String::new(),
            status: StatusFilter::All,
            sort: Column::Host,
            dir: Direction::Asc,
        }
    }
}

impl OverviewQuery {
    /// Reads the query from decoded parameters; anything unknown falls back to the default.
    pub fn parse(get: impl Fn(&str) -> Option<String>) -> Self {
        let sort = get("sort")
            .and_then(|s| Column::parse(&s))
            .unwrap_or(Column::Host);
        let dir = match get("dir").as_deref() {
            Some("asc") => Direction::Asc,
            Some("desc") => Direction::Desc,
            _ => sort.first_direction(),
        };
        Self {
            // Longer than any host name: nothing could match, so nothing is lost.
            q: get("q").unwrap_or_default().chars().take(64).collect(),
            status: get("status")
                .and_then(|s| StatusFilter::parse(&s))
                .unwrap_or(StatusFilter::All),
            sort,
            dir,
        }
    }

    /// The URL's query part, with its `?`, or empty for the default view.
    pub fn to_search(&self) -> String {
        let mut parts = Vec::new();
        if !self.q.is_empty() {
            parts.push(format!("q={}", encode(&self.q)));
        }
        if self.status != StatusFilter::All {
            parts.push(format!("status={}", self.status.key()));
        }
        if self.sort != Column::Host || self.dir != Direction::Asc {
            parts.push(format!("sort={}", self.sort.key()));
            parts.push(format!("dir={}", self.dir.key()));
        }
        if parts.is_empty() {
            String::new()
        } else {
            format!("?{}", parts.join("&"))
        }
    }

    /// The query after a click on `column`'s header: the same column flips its direction,
    /// another one sorts in its first direction.
    pub fn sorted_by(&self, column: Column) -> Self {
        let dir = if self.sort == column {
            match self.dir {
                Direction::Asc => Direction::Desc,
                Direction::Desc => Direction::Asc,
            }
        } else {
            column.first_direction()
        };
        Self {
            sort: column,
            dir,
            ..self.clone()
        }
    }
}

/// Percent-encodes everything but the unreserved characters of RFC 3986.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Splits and decodes a query string the way the router does.
    fn params(search: &str) -> HashMap<String, String> {
        let decode = |s: &str| {
            let bytes = s.as_bytes();
            let mut out = Vec::new();
            let mut i = 0;
            while i < bytes.len() {
                if bytes[i] == b'%' && i + 3 <= bytes.len() {
                    let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                    out.push(u8::from_str_radix(hex, 16).unwrap());
                    i += 3;
                } else {
                    out.push(bytes[i]);
                    i += 1;
                }
            }
            String::from_utf8(out).unwrap()
        };
        search
            .trim_start_matches('?')
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), decode(v)))
            .collect()
    }

    fn round_trip(query: &OverviewQuery) -> OverviewQuery {
        let map = params(&query.to_search());
        OverviewQuery::parse(|k| map.get(k).cloned())
    }

    #[test]
    fn the_default_view_has_a_bare_url() {
        assert_eq!(OverviewQuery::default().to_search(), "");
        assert_eq!(OverviewQuery::parse(|_| None), OverviewQuery::default());
    }

    #[test]
    fn queries_survive_the_url() {
        let query = OverviewQuery {
            q: "web".into(),
            status: StatusFilter::Only(HostStatus::Online),
            sort: Column::Cpu,
            dir: Direction::Desc,
        };
        assert_eq!(query.to_search(), "?q=web&status=online&sort=cpu&dir=desc");
        assert_eq!(round_trip(&query), query);
        let odd = OverviewQuery {
            q: "a b&c=d/é%".into(),
            ..OverviewQuery::default()
        };
        assert_eq!(odd.to_search(), "?q=a%20b%26c%3Dd%2F%C3%A9%25");
        assert_eq!(round_trip(&odd), odd);
        for column in Column::ALL {
            for dir in [Direction::Asc, Direction::Desc] {
                let q = OverviewQuery {
                    sort: column,
                    dir,
                    ..OverviewQuery::default()
                };
                assert_eq!(round_trip(&q), q);
            }
        }
    }

    #[test]
    fn unknown_values_fall_back_to_the_defaults() {
        let map = params("?sort=bogus&dir=up&status=sleepy");
        assert_eq!(
            OverviewQuery::parse(|k| map.get(k).cloned()),
            OverviewQuery::default()
        );
        // A figure column without a direction sorts busiest first.
        let map = params("?sort=mem");
        let q = OverviewQuery::parse(|k| map.get(k).cloned());
        assert_eq!((q.sort, q.dir), (Column::Mem, Direction::Desc));
    }

    #[test]
    fn clicking_a_header_sorts_by_it_then_flips() {
        let q = OverviewQuery::default().sorted_by(Column::Cpu);
        assert_eq!((q.sort, q.dir), (Column::Cpu, Direction::Desc));
        let q = q.sorted_by(Column::Cpu);
        assert_eq!((q.sort, q.dir), (Column::Cpu, Direction::Asc));
        let q = q.sorted_by(Column::Host);
        assert_eq!((q.sort, q.dir), (Column::Host, Direction::Asc));
        let q = q.sorted_by(Column::Host);
        assert_eq!((q.sort, q.dir), (Column::Host, Direction::Desc));
    }
}
