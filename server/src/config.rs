//! One typed configuration, built from flags and `LOOKOUT_*` environment variables.
//! Every default is safe for production. This module is the bottom of the dependency
//! order (config → store → auth/access → live → http → main): it imports none of them.

use anyhow::{bail, Context};
use ipnet::IpNet;
use std::{fmt, net::SocketAddr, path::PathBuf, time::Duration};

/// Where the database lives. Shared by `serve` and the admin commands.
#[derive(Debug, Clone, clap::Args)]
pub struct DatabaseArgs {
    /// Database URL; `sqlite://PATH` is created if missing.
    #[arg(
        long,
        global = true,
        env = "LOOKOUT_DATABASE_URL",
        default_value = "sqlite://lookout.db"
    )]
    pub database_url: String,
}

pub fn duration(raw: &str) -> Result<Duration, humantime::DurationError> {
    humantime::parse_duration(raw)
}

/// `lookout serve`'s flags.
#[derive(Debug, Clone, clap::Args)]
#[command(
    after_help = "On first start with no users, an `admin` account is created with the \
password in LOOKOUT_ADMIN_PASSWORD, or a random one printed once to the terminal."
)]
pub struct ServeArgs {
    #[command(flatten)]
    pub db: DatabaseArgs,
    /// Address to listen on. Bound to loopback, only loopback Host names are served
    /// (DNS rebinding); with --public-origin, only that host.
    #[arg(long, env = "LOOKOUT_ADDR", default_value = "127.0.0.1:3000")]
    pub addr: SocketAddr,
    /// The origin browsers reach Lookout at (`https://lookout.example.com`), when it differs
    /// from the Host header (behind a proxy). An https origin makes the session cookie
    /// `Secure` with the `__Host-` prefix and turns on HSTS.
    #[arg(long, env = "LOOKOUT_PUBLIC_ORIGIN")]
    pub public_origin: Option<String>,
    /// Origins of other apps behind Lookout's sign-in (forward auth) that a sign-in may
    /// return to with `/login?next=URL`, comma-separated (`https://grafana.example.com`).
    #[arg(long, env = "LOOKOUT_RETURN_ORIGIN", value_delimiter = ',')]
    pub return_origin: Vec<String>,
    /// Serve HTTPS with this certificate chain (PEM), with --tls-key.
    #[arg(
        long,
        env = "LOOKOUT_TLS_CERT",
        requires = "tls_key",
        conflicts_with = "tls_self_signed"
    )]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, env = "LOOKOUT_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Serve HTTPS with a self-signed certificate, made on the first start and kept in
    /// --tls-dir; its SHA-256 fingerprint is printed at every start.
    #[arg(long, env = "LOOKOUT_TLS_SELF_SIGNED")]
    pub tls_self_signed: bool,
    /// Where the self-signed certificate is kept.
    #[arg(long, env = "LOOKOUT_TLS_DIR", default_value = ".")]
    pub tls_dir: PathBuf,
    /// Names the self-signed certificate is for, comma-separated (besides localhost,
    /// 127.0.0.1 and ::1, and the --public-origin host).
    #[arg(long, env = "LOOKOUT_TLS_NAMES", value_delimiter = ',')]
    pub tls_names: Vec<String>,
    /// Reverse proxies whose `X-Forwarded-For` / `Forwarded` headers are believed, as
    /// comma-separated addresses or CIDR blocks (`127.0.0.1,10.0.0.0/8`). From any other
    /// peer those headers are ignored.
    #[arg(long, env = "LOOKOUT_TRUSTED_PROXY", value_delimiter = ',')]
    pub trusted_proxy: Vec<String>,
    /// Sign out after this long without a request (e.g. `30m`).
    #[arg(long, env = "LOOKOUT_SESSION_IDLE", default_value = "30m", value_parser = duration)]
    pub session_idle: Duration,
    /// Sign out this long after sign-in, however active (e.g. `12h`).
    #[arg(long, env = "LOOKOUT_SESSION_MAX", default_value = "12h", value_parser = duration)]
    pub session_max: Duration,
    /// Failed sign-ins per account and client address before that address is locked out of
    /// the account. One address over all accounts gets 10× this.
    #[arg(long, env = "LOOKOUT_LOGIN_MAX_FAILURES", default_value_t = 5)]
    pub login_max_failures: u32,
    /// First lockout after too many failures; doubles with each further failure, up to 15 min.
    #[arg(long, env = "LOOKOUT_LOGIN_LOCKOUT", default_value = "30s", value_parser = duration)]
    pub login_lockout: Duration,
    /// Shortest password accepted for new passwords (never below 8). The account commands
    /// of the CLI apply the largest of this and what a server on the same database set.
    #[arg(long, env = "LOOKOUT_PASSWORD_MIN_LENGTH", default_value_t = 8)]
    pub password_min_length: usize,
    /// Password hashes computed at once (each takes 19 MiB); default: the number of cores.
    #[arg(long, env = "LOOKOUT_HASH_CONCURRENCY")]
    pub hash_concurrency: Option<usize>,
    /// How often this machine is sampled.
    #[arg(long, env = "LOOKOUT_SAMPLE_INTERVAL", default_value = "1s", value_parser = duration)]
    pub sample_interval: Duration,
    /// How much history each series keeps in memory for the live view.
    #[arg(long, env = "LOOKOUT_RETENTION", default_value = "15m", value_parser = duration)]
    pub retention: Duration,
    /// How long raw samples are kept on disk.
    #[arg(long, env = "LOOKOUT_RETENTION_RAW", default_value = "48h", value_parser = duration)]
    pub retention_raw: Duration,
    /// How long 1-minute rollups (min, max, average, last) are kept on disk.
    #[arg(long, env = "LOOKOUT_RETENTION_1M", default_value = "30d", value_parser = duration)]
    pub retention_1m: Duration,
    /// How long 1-hour rollups are kept on disk.
    #[arg(long, env = "LOOKOUT_RETENTION_1H", default_value = "400d", value_parser = duration)]
    pub retention_1h: Duration,
    /// Whether samples are written to the database (`off`: the live view only, for
    /// measuring what persistence costs).
    #[arg(long, env = "LOOKOUT_HISTORY", default_value = "on", value_parser = on_off, action = clap::ArgAction::Set)]
    pub history: bool,
    /// A host whose newest sample is this old shows as stale in the overview.
    #[arg(long, env = "LOOKOUT_STALE_AFTER", default_value = "10s", value_parser = duration)]
    pub stale_after: Duration,
    /// A host whose newest sample is this old shows as offline.
    #[arg(long, env = "LOOKOUT_OFFLINE_AFTER", default_value = "60s", value_parser = duration)]
    pub offline_after: Duration,
    /// How far an ingested sample's timestamp may be from the server's clock; samples
    /// further off are refused one by one (the rest of the batch is kept).
    #[arg(long, env = "LOOKOUT_INGEST_MAX_SKEW", default_value = "5m", value_parser = duration)]
    pub ingest_max_skew: Duration,
    /// The name this machine's metrics appear under (default: its host name).
    #[arg(long, env = "LOOKOUT_HOST_NAME")]
    pub host_name: Option<String>,
    /// Most series one host may have; a batch that would cross it is refused with 422.
    #[arg(long, env = "LOOKOUT_MAX_SERIES_PER_HOST", default_value_t = 1000)]
    pub max_series_per_host: usize,
    /// Most hosts one pattern-bound ingest token (`--host 'web-*'`) may create.
    #[arg(long, env = "LOOKOUT_MAX_HOSTS_PER_TOKEN", default_value_t = 100)]
    pub max_hosts_per_token: usize,
    /// Most live sockets one session may hold open; beyond, the upgrade gets 429.
    #[arg(long, env = "LOOKOUT_MAX_SOCKETS_PER_SESSION", default_value_t = 16)]
    pub max_sockets_per_session: usize,
    /// Most live sockets from one client address; beyond, the upgrade gets 429.
    #[arg(long, env = "LOOKOUT_MAX_SOCKETS_PER_ADDRESS", default_value_t = 256)]
    pub max_sockets_per_address: usize,
    /// A socket that sends nothing (not even `ping`) for this long is closed; at least 30 s,
    /// since dashboards ping every 20 s.
    #[arg(long, env = "LOOKOUT_SOCKET_IDLE_TIMEOUT", default_value = "60s", value_parser = duration)]
    pub socket_idle_timeout: Duration,
    /// Most open connections in all.
    #[arg(long, env = "LOOKOUT_MAX_CONNECTIONS", default_value_t = 16_384)]
    pub max_connections: usize,
    /// Most open connections from one client address (live sockets included).
    #[arg(
        long,
        env = "LOOKOUT_MAX_CONNECTIONS_PER_ADDRESS",
        default_value_t = 512
    )]
    pub max_connections_per_address: usize,
    /// A client must send a request's headers within this.
    #[arg(long, env = "LOOKOUT_HEADER_READ_TIMEOUT", default_value = "10s", value_parser = duration)]
    pub header_read_timeout: Duration,
    /// A client must send a request's body within this.
    #[arg(long, env = "LOOKOUT_BODY_TIMEOUT", default_value = "30s", value_parser = duration)]
    pub body_timeout: Duration,
    /// Redis for several instances behind one load balancer (`redis://[:PASSWORD@]HOST[:PORT][/DB]`):
    /// samples ingested on any instance reach every instance's sockets, sign-outs and access
    /// changes reach them at once, and sign-in throttling counts across instances. Without
    /// it, one instance works alone.
    #[arg(long, env = "LOOKOUT_REDIS_URL", value_parser = RedisUrl::parse)]
    pub redis_url: Option<RedisUrl>,
    /// Prefix of Lookout's Redis channel and keys: deployments that share one Redis need
    /// one prefix each.
    #[arg(long, env = "LOOKOUT_REDIS_PREFIX", default_value = "lookout", value_parser = redis_prefix)]
    pub redis_prefix: String,
}

/// A Redis URL. Its `Debug` hides the password, so a logged configuration never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl(String);

impl RedisUrl {
    /// `redis://` or `redis+unix://` URLs; anything else (`rediss://` included: TLS to
    /// Redis is not built in) is refused at start, not at the first publish.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        let (scheme, _) = raw
            .split_once("://")
            .ok_or_else(|| "a Redis URL looks like redis://host:6379".to_string())?;
        match scheme {
            "redis" | "redis+unix" | "unix" => Ok(Self(raw.to_string())),
            "rediss" => Err("rediss:// (TLS) is not supported; reach Redis over a private network or a local TLS tunnel".into()),
            _ => Err(format!("a Redis URL starts with redis://, not {scheme}://")),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `scheme://user:secret@host` → `scheme://user:…@host`.
        let shown = match self.0.split_once("://") {
            Some((scheme, rest)) => match rest.rsplit_once('@') {
                Some((userinfo, host)) => {
                    let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
                    format!("{scheme}://{user}:…@{host}")
                }
                None => self.0.clone(),
            },
            None => self.0.clone(),
        };
        f.debug_tuple("RedisUrl").field(&shown).finish()
    }
}

fn redis_prefix(raw: &str) -> Result<String, String> {
    if (1..=64).contains(&raw.len())
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        Ok(raw.to_string())
    } else {
        Err("a prefix is 1-64 characters of a-z, A-Z, 0-9, '-', '_' and '.'".into())
    }
}

/// Several instances sharing one Redis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisConfig {
    pub url: RedisUrl,
    /// The channel is `PREFIX:bus`; throttle keys are `PREFIX:throttle:…`.
    pub prefix: String,
}

impl RedisConfig {
    pub fn new(url: RedisUrl, prefix: impl Into<String>) -> Self {
        Self {
            url,
            prefix: prefix.into(),
        }
    }
}

/// The origin a browser uses to reach Lookout, as `scheme://host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicOrigin(String);

impl PublicOrigin {
    pub fn parse(raw: &str) -> anyhow::Result<Self> {
        let uri: http::Uri = raw
            .trim_end_matches('/')
            .parse()
            .with_context(|| format!("invalid origin {raw:?}"))?;
        let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
            bail!("an origin looks like https://lookout.example.com, not {raw:?}");
        };
        if !matches!(scheme, "http" | "https")
            || !matches!(uri.path(), "" | "/")
            || uri.query().is_some()
        {
            bail!("an origin is http(s)://host[:port] with no path, not {raw:?}");
        }
        Ok(Self(format!(
            "{scheme}://{}",
            authority.as_str().to_ascii_lowercase()
        )))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_https(&self) -> bool {
        self.0.starts_with("https://")
    }

    /// `host[:port]`, as a `Host` header names it.
    pub fn authority(&self) -> &str {
        self.0.split_once("://").map_or("", |(_, a)| a)
    }
}

/// How sessions behave.
#[derive(Clone, Debug)]
pub struct SessionPolicy {
    /// Signed out after this long without a request.
    pub idle: Duration,
    /// Signed out this long after sign-in, however active (enforced by our code, not only
    /// by the cookie).
    pub max: Duration,
}

impl SessionPolicy {
    /// A session's last-seen time (and with it its idle expiry and its cookie) is written at
    /// most this often: once a minute, or more often when the idle timeout is short.
    pub fn touch_every(&self) -> Duration {
        (self.idle / 4).min(Duration::from_secs(60))
    }
}

/// Sign-in throttling: see `auth::throttle` for how the buckets behave.
#[derive(Clone, Debug)]
pub struct ThrottlePolicy {
    /// Attempts allowed per account and client address before a lockout.
    pub max_failures: u32,
    /// First lockout of an account + address; doubles with each further miss.
    pub base_lockout: Duration,
    pub max_lockout: Duration,
    /// Misses counted within this window; older ones are forgotten.
    pub window: Duration,
    /// Misses per account from all addresses before attempts on it are slowed down.
    pub account_failures: u32,
    /// How much a hot account slows every attempt on it: a few seconds, never a lockout,
    /// so that its owner always gets in from an address of their own.
    pub account_delay: Duration,
    /// Attempts per address over all accounts before that address is locked out.
    pub ip_failures: u32,
}

impl ThrottlePolicy {
    /// The policy for `max_failures` misses per account and address; the account-wide and
    /// per-address thresholds scale with it.
    pub fn with_max_failures(max_failures: u32) -> Self {
        Self {
            max_failures,
            base_lockout: Duration::from_secs(30),
            max_lockout: Duration::from_secs(15 * 60),
            window: Duration::from_secs(15 * 60),
            account_failures: max_failures.saturating_mul(4),
            account_delay: Duration::from_secs(2),
            ip_failures: max_failures.saturating_mul(10),
        }
    }
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        Self::with_max_failures(5)
    }
}

/// How the live stream and ingest behave.
#[derive(Clone, Debug)]
pub struct LiveConfig {
    /// How often this machine is sampled.
    pub sample_every: Duration,
    /// How much history each series keeps in memory.
    pub retention: Duration,
    /// Frames a socket may fall behind before it is dropped as too slow.
    pub queue: usize,
    /// The name this machine's series are published under.
    pub host_name: String,
    /// How far an ingested sample's timestamp may be from the server's clock.
    pub max_skew: Duration,
    /// A frame the peer cannot take within this drops the socket.
    pub send_timeout: Duration,
    /// A socket that sends nothing for this long is closed.
    pub idle_timeout: Duration,
    pub max_sockets_per_session: usize,
    pub max_sockets_per_address: usize,
    pub max_series_per_host: usize,
    pub max_hosts_per_token: usize,
    /// Ages of a host's newest sample at which the overview shows it stale, then offline.
    pub thresholds: app::live::StatusThresholds,
}

/// What is kept on disk, and for how long.
#[derive(Clone, Debug)]
pub struct HistoryPolicy {
    /// Whether samples are written to the database at all.
    pub enabled: bool,
    pub retention_raw: Duration,
    pub retention_1m: Duration,
    pub retention_1h: Duration,
}

impl Default for HistoryPolicy {
    fn default() -> Self {
        const DAY: u64 = 24 * 3600;
        Self {
            enabled: true,
            retention_raw: Duration::from_secs(2 * DAY),
            retention_1m: Duration::from_secs(30 * DAY),
            retention_1h: Duration::from_secs(400 * DAY),
        }
    }
}

impl LiveConfig {
    pub fn new(host_name: String) -> Self {
        Self {
            sample_every: Duration::from_secs(1),
            retention: Duration::from_secs(15 * 60),
            queue: 256,
            host_name,
            max_skew: Duration::from_secs(5 * 60),
            send_timeout: Duration::from_secs(5),
            idle_timeout: app::live::IDLE_TIMEOUT,
            max_sockets_per_session: 16,
            max_sockets_per_address: 256,
            max_series_per_host: 1000,
            max_hosts_per_token: 100,
            thresholds: app::live::StatusThresholds {
                stale_after_ms: 10_000,
                offline_after_ms: 60_000,
            },
        }
    }

    /// Points kept per series: the retention at the sampling rate.
    pub fn history_len(&self) -> usize {
        let every = self.sample_every.as_millis().max(1);
        usize::try_from(self.retention.as_millis() / every)
            .unwrap_or(usize::MAX)
            .clamp(1, 86_400)
    }
}

/// Limits on connections, so that slow or half-open clients cannot hold the server's
/// sockets or memory.
#[derive(Clone, Debug)]
pub struct ConnectionLimits {
    pub max_connections: usize,
    pub max_per_address: usize,
    pub header_read_timeout: Duration,
    pub body_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_connections: 16_384,
            max_per_address: 512,
            header_read_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
        }
    }
}

/// Everything `serve` needs.
#[derive(Debug, Clone)]
pub struct Config {
    pub addr: SocketAddr,
    pub database_url: String,
    pub public_origin: Option<PublicOrigin>,
    pub trusted_proxies: Vec<IpNet>,
    pub sessions: SessionPolicy,
    pub throttle: ThrottlePolicy,
    pub password_min_chars: usize,
    pub hash_concurrency: usize,
    /// Password for the first-run `admin` account (`LOOKOUT_ADMIN_PASSWORD`); never a flag,
    /// so it does not show in the process list.
    pub admin_password: Option<String>,
    pub live: LiveConfig,
    pub history: HistoryPolicy,
    pub connections: ConnectionLimits,
    /// HTTPS, served by Lookout itself.
    pub tls: Option<Tls>,
    /// Origins a sign-in may return to (`scheme://host[:port]`, lower-case).
    pub return_origins: Vec<String>,
    /// Several instances: the bus and shared sign-in counters.
    pub redis: Option<RedisConfig>,
    /// How often the database is asked for sessions ended and access changed by processes
    /// that publish nothing (the command line, an instance without Redis). A revocation
    /// reaches the sockets within this plus one query. Not a flag: tests lengthen it to
    /// show what the Redis bus carries alone.
    pub changes_poll: Duration,
    /// The site compiled into the binary (`cargo xtask dist`); without it, or with
    /// `LEPTOS_SITE_ROOT` set, the site is served from disk.
    pub embedded_site: Option<EmbeddedFiles>,
}

/// The site a binary carries: the tables its `build.rs` writes when `cargo xtask dist`
/// builds it.
#[derive(Clone, Copy)]
pub struct EmbeddedFiles {
    /// The bundle's stem, `site.<hash>`: its `.js`, `.wasm` and `.css` are in `pkg_dir`.
    pub output_name: &'static str,
    pub pkg_dir: &'static str,
    /// URL path and bytes of every file; `<file>.br` and `<file>.gz` are its
    /// precompressed copies.
    pub files: &'static [(&'static str, &'static [u8])],
}

impl fmt::Debug for EmbeddedFiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmbeddedFiles")
            .field("output_name", &self.output_name)
            .field("files", &self.files.len())
            .finish()
    }
}

/// See [`Config::changes_poll`].
pub const CHANGES_POLL: Duration = Duration::from_millis(250);

/// Where the TLS certificate comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tls {
    Files {
        cert: PathBuf,
        key: PathBuf,
    },
    /// Made once for `names` and kept in `dir`.
    SelfSigned {
        dir: PathBuf,
        names: Vec<String>,
    },
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn on_off(s: &str) -> Result<bool, String> {
    match s {
        "on" | "true" => Ok(true),
        "off" | "false" => Ok(false),
        _ => Err(format!("expected on or off, not {s:?}")),
    }
}

fn default_hash_concurrency() -> usize {
    std::thread::available_parallelism().map_or(2, usize::from)
}

/// A series-name fragment from a host, interface or mount name: `[a-z0-9._-]`, at most 32.
pub fn name_part(raw: &str) -> String {
    let trimmed = raw.trim_matches('/');
    if trimmed.is_empty() {
        return "root".into();
    }
    trimmed
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '.' | '-' | '_') => c,
            _ => '_',
        })
        .take(32)
        .collect()
}

/// This machine's name, as its series are published.
pub fn this_host_name() -> String {
    name_part(&sysinfo::System::host_name().unwrap_or_else(|| "localhost".into()))
}

/// Parses `--trusted-proxy` entries: addresses (`127.0.0.1`, `::1`) or CIDR blocks.
pub fn parse_trusted_proxies(raw: &[String]) -> anyhow::Result<Vec<IpNet>> {
    raw.iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
                .with_context(|| format!("--trusted-proxy: {s:?} is not an address or CIDR block"))
        })
        .collect()
}

impl Config {
    /// The defaults, on the given database.
    pub fn new(database_url: impl Into<String>) -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 3000)),
            database_url: database_url.into(),
            public_origin: None,
            tls: None,
            return_origins: Vec::new(),
            redis: None,
            changes_poll: CHANGES_POLL,
            embedded_site: None,
            trusted_proxies: Vec::new(),
            sessions: SessionPolicy {
                idle: Duration::from_secs(30 * 60),
                max: Duration::from_secs(12 * 3600),
            },
            throttle: ThrottlePolicy::default(),
            password_min_chars: app::auth::PASSWORD_MIN_CHARS,
            hash_concurrency: default_hash_concurrency(),
            admin_password: None,
            live: LiveConfig::new(this_host_name()),
            history: HistoryPolicy::default(),
            connections: ConnectionLimits::default(),
        }
    }

    pub fn from_args(args: ServeArgs) -> anyhow::Result<Self> {
        for (flag, value) in [
            ("--session-idle", args.session_idle),
            ("--session-max", args.session_max),
            ("--sample-interval", args.sample_interval),
            ("--retention", args.retention),
            ("--retention-raw", args.retention_raw),
            ("--retention-1m", args.retention_1m),
            ("--retention-1h", args.retention_1h),
            ("--stale-after", args.stale_after),
            ("--socket-idle-timeout", args.socket_idle_timeout),
            ("--header-read-timeout", args.header_read_timeout),
            ("--body-timeout", args.body_timeout),
        ] {
            if value.is_zero() {
                bail!("{flag} must be longer than zero");
            }
        }
        for (flag, value) in [
            ("--login-max-failures", args.login_max_failures as usize),
            ("--max-series-per-host", args.max_series_per_host),
            ("--max-hosts-per-token", args.max_hosts_per_token),
            ("--max-sockets-per-session", args.max_sockets_per_session),
            ("--max-sockets-per-address", args.max_sockets_per_address),
            ("--max-connections", args.max_connections),
            (
                "--max-connections-per-address",
                args.max_connections_per_address,
            ),
        ] {
            if value == 0 {
                bail!("{flag} must be at least 1");
            }
        }
        // Browsers ping every 20 s; a shorter idle timeout would drop every quiet dashboard.
        let min_idle = app::live::PING_INTERVAL * 3 / 2;
        if args.socket_idle_timeout < min_idle {
            bail!(
                "--socket-idle-timeout must be at least {} s (dashboards ping every {} s)",
                min_idle.as_secs(),
                app::live::PING_INTERVAL.as_secs()
            );
        }
        let mut config = Self::new(args.db.database_url);
        config.addr = args.addr;
        config.public_origin = args
            .public_origin
            .as_deref()
            .map(PublicOrigin::parse)
            .transpose()?;
        config.tls = match (args.tls_cert, args.tls_key, args.tls_self_signed) {
            (Some(cert), Some(key), _) => Some(Tls::Files { cert, key }),
            (None, None, true) => {
                let mut names: Vec<String> = ["localhost", "127.0.0.1", "::1"]
                    .into_iter()
                    .map(String::from)
                    .collect();
                if let Some(origin) = &config.public_origin {
                    let host = origin
                        .authority()
                        .rsplit_once(':')
                        .map_or(origin.authority(), |(h, _)| h);
                    names.push(host.trim_matches(['[', ']']).to_string());
                }
                names.extend(args.tls_names.into_iter().map(|n| n.trim().to_string()));
                names.retain(|n| !n.is_empty());
                names.dedup();
                Some(Tls::SelfSigned {
                    dir: args.tls_dir,
                    names,
                })
            }
            _ => None,
        };
        config.return_origins = args
            .return_origin
            .iter()
            .filter(|o| !o.trim().is_empty())
            .map(|o| {
                PublicOrigin::parse(o.trim()).map(|o| o.as_str().trim_end_matches('/').to_string())
            })
            .collect::<anyhow::Result<_>>()?;
        config.trusted_proxies = parse_trusted_proxies(&args.trusted_proxy)?;
        config.redis = args
            .redis_url
            .map(|url| RedisConfig::new(url, args.redis_prefix));
        config.sessions = SessionPolicy {
            idle: args.session_idle,
            max: args.session_max,
        };
        config.throttle = ThrottlePolicy::with_max_failures(args.login_max_failures);
        config.throttle.base_lockout = args.login_lockout;
        config.password_min_chars = args.password_min_length.max(app::auth::PASSWORD_MIN_CHARS);
        config.hash_concurrency = args
            .hash_concurrency
            .unwrap_or_else(default_hash_concurrency)
            .max(1);
        config.admin_password = std::env::var("LOOKOUT_ADMIN_PASSWORD")
            .ok()
            .filter(|p| !p.is_empty());
        let live = &mut config.live;
        live.sample_every = args.sample_interval;
        live.retention = args.retention;
        live.max_skew = args.ingest_max_skew;
        if let Some(name) = args.host_name {
            if !app::live::is_valid_name(&name) {
                bail!("--host-name must match [a-z0-9._-]{{1,64}}, not {name:?}");
            }
            live.host_name = name;
        }
        live.max_series_per_host = args.max_series_per_host;
        live.max_hosts_per_token = args.max_hosts_per_token;
        live.max_sockets_per_session = args.max_sockets_per_session;
        live.max_sockets_per_address = args.max_sockets_per_address;
        live.idle_timeout = args.socket_idle_timeout;
        if args.offline_after <= args.stale_after {
            bail!("--offline-after must be longer than --stale-after");
        }
        live.thresholds = app::live::StatusThresholds {
            stale_after_ms: millis(args.stale_after),
            offline_after_ms: millis(args.offline_after),
        };
        config.history = HistoryPolicy {
            enabled: args.history,
            retention_raw: args.retention_raw,
            retention_1m: args.retention_1m,
            retention_1h: args.retention_1h,
        };
        config.connections = ConnectionLimits {
            max_connections: args.max_connections,
            max_per_address: args.max_connections_per_address,
            header_read_timeout: args.header_read_timeout,
            body_timeout: args.body_timeout,
        };
        Ok(config)
    }

    /// Cookies get `Secure` and the `__Host-` prefix when browsers reach us over https.
    pub fn secure_cookies(&self) -> bool {
        self.tls.is_some()
            || self
                .public_origin
                .as_ref()
                .is_some_and(PublicOrigin::is_https)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        serve: ServeArgs,
    }

    fn config(args: &[&str]) -> anyhow::Result<Config> {
        let cli = Cli::try_parse_from(std::iter::once("lookout").chain(args.iter().copied()))?;
        Config::from_args(cli.serve)
    }

    #[test]
    fn tls_comes_from_files_or_a_self_signed_certificate_for_the_servers_names() {
        assert_eq!(config(&[]).unwrap().tls, None);
        assert!(!config(&[]).unwrap().secure_cookies());
        let c = config(&["--tls-cert", "c.pem", "--tls-key", "k.pem"]).unwrap();
        assert_eq!(
            c.tls,
            Some(Tls::Files {
                cert: "c.pem".into(),
                key: "k.pem".into()
            })
        );
        assert!(c.secure_cookies());
        let c = config(&[
            "--tls-self-signed",
            "--tls-dir",
            "/var/lib/lookout",
            "--public-origin",
            "https://lookout.example.com:8443",
            "--tls-names",
            "lookout.internal",
        ])
        .unwrap();
        assert_eq!(
            c.tls,
            Some(Tls::SelfSigned {
                dir: "/var/lib/lookout".into(),
                names: vec![
                    "localhost".into(),
                    "127.0.0.1".into(),
                    "::1".into(),
                    "lookout.example.com".into(),
                    "lookout.internal".into()
                ]
            })
        );
        assert!(config(&["--tls-cert", "c.pem"]).is_err(), "a key too");
        assert!(config(&[
            "--tls-self-signed",
            "--tls-cert",
            "c.pem",
            "--tls-key",
            "k.pem"
        ])
        .is_err());
    }

    #[test]
    fn history_retention_and_status_thresholds_come_from_flags() {
        let c = config(&[]).unwrap();
        assert!(c.history.enabled);
        assert_eq!(c.history.retention_raw, Duration::from_secs(48 * 3600));
        assert_eq!(c.history.retention_1m, Duration::from_secs(30 * 86_400));
        assert_eq!(c.history.retention_1h, Duration::from_secs(400 * 86_400));
        let c = config(&[
            "--retention-raw",
            "2h",
            "--retention-1m",
            "7d",
            "--retention-1h",
            "90d",
            "--history",
            "off",
            "--stale-after",
            "5s",
            "--offline-after",
            "2m",
        ])
        .unwrap();
        assert!(!c.history.enabled);
        assert_eq!(c.history.retention_raw, Duration::from_secs(2 * 3600));
        assert_eq!(c.history.retention_1m, Duration::from_secs(7 * 86_400));
        assert_eq!(c.history.retention_1h, Duration::from_secs(90 * 86_400));
        assert_eq!(c.live.thresholds.stale_after_ms, 5_000);
        assert_eq!(c.live.thresholds.offline_after_ms, 120_000);
        assert!(config(&["--retention-raw", "0s"]).is_err());
        assert!(config(&["--history", "maybe"]).is_err());
        assert!(config(&["--stale-after", "1m", "--offline-after", "30s"]).is_err());
    }

    #[test]
    fn public_origins_are_normalised_and_paths_refused() {
        let origin = PublicOrigin::parse("https://Lookout.Example.com/").unwrap();
        assert_eq!(origin.as_str(), "https://lookout.example.com");
        assert_eq!(origin.authority(), "lookout.example.com");
        assert!(PublicOrigin::parse("https://lookout.example.com:8443")
            .unwrap()
            .is_https());
        assert!(PublicOrigin::parse("http://x/y").is_err());
        assert!(PublicOrigin::parse("ftp://x").is_err());
        assert!(PublicOrigin::parse("lookout.example.com").is_err());
    }

    #[test]
    fn live_flags_reach_the_configuration() {
        let c = config(&[
            "--sample-interval",
            "250ms",
            "--retention",
            "2m",
            "--host-name",
            "box-7",
            "--ingest-max-skew",
            "30s",
            "--max-series-per-host",
            "12",
            "--max-sockets-per-session",
            "3",
        ])
        .unwrap();
        assert_eq!(c.live.sample_every, Duration::from_millis(250));
        assert_eq!(c.live.retention, Duration::from_secs(120));
        assert_eq!(c.live.history_len(), 480);
        assert_eq!(c.live.host_name, "box-7");
        assert_eq!(c.live.max_skew, Duration::from_secs(30));
        assert_eq!(c.live.max_series_per_host, 12);
        assert_eq!(c.live.max_sockets_per_session, 3);
        assert!(config(&["--host-name", "Not Valid"]).is_err());
        assert!(config(&["--socket-idle-timeout", "10s"]).is_err());
        assert!(config(&["--socket-idle-timeout", "45s"]).is_ok());
        assert!(config(&["--sample-interval", "0s"]).is_err());
    }

    #[test]
    fn redis_comes_from_a_url_and_a_prefix_and_never_shows_its_password() {
        assert_eq!(config(&[]).unwrap().redis, None);
        let c = config(&["--redis-url", "redis://:s3cret@10.0.0.5:6379/2"]).unwrap();
        let redis = c.redis.clone().unwrap();
        assert_eq!(redis.url.as_str(), "redis://:s3cret@10.0.0.5:6379/2");
        assert_eq!(redis.prefix, "lookout");
        let shown = format!("{c:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("redis://:…@10.0.0.5:6379/2"), "{shown}");
        let c = config(&[
            "--redis-url",
            "redis://ops:pw@cache:6379",
            "--redis-prefix",
            "lookout-eu",
        ])
        .unwrap();
        assert_eq!(c.redis.as_ref().unwrap().prefix, "lookout-eu");
        assert!(!format!("{c:?}").contains("pw@"));
        assert!(config(&["--redis-url", "rediss://cache:6379"]).is_err());
        assert!(config(&["--redis-url", "http://cache"]).is_err());
        assert!(config(&["--redis-url", "cache:6379"]).is_err());
        assert!(config(&["--redis-url", "redis://c", "--redis-prefix", "a b"]).is_err());
        assert!(config(&["--redis-url", "redis://c", "--redis-prefix", ""]).is_err());
    }

    #[test]
    fn trusted_proxies_take_addresses_and_blocks() {
        let c = config(&["--trusted-proxy", "127.0.0.1,10.0.0.0/8, ::1"]).unwrap();
        assert_eq!(c.trusted_proxies.len(), 3);
        assert!(c.trusted_proxies[1].contains(&"10.2.3.4".parse::<std::net::IpAddr>().unwrap()));
        assert!(config(&["--trusted-proxy", "not-an-address"]).is_err());
        assert!(config(&[]).unwrap().trusted_proxies.is_empty());
    }
}
