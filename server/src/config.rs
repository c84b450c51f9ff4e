//! One typed configuration, built from flags and `LOOKOUT_*` environment variables.
//! Every default is safe for production.

use crate::{
    auth::{throttle::ThrottlePolicy, SessionPolicy},
    live::{sampler::name_part, LiveConfig},
};
use anyhow::{bail, Context};
use std::{net::SocketAddr, time::Duration};

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

/// `lookout serve`'s flags.
#[derive(Debug, Clone, clap::Args)]
#[command(
    after_help = "On first start with no users, an `admin` account is created with the \
password in LOOKOUT_ADMIN_PASSWORD, or a random one printed once to the terminal."
)]
pub struct ServeArgs {
    #[command(flatten)]
    pub db: DatabaseArgs,
    /// Address to listen on.
    #[arg(long, env = "LOOKOUT_ADDR", default_value = "127.0.0.1:3000")]
    pub addr: SocketAddr,
    /// The origin browsers reach Lookout at (`https://lookout.example.com`), when it differs
    /// from the Host header (behind a proxy). An https origin makes the session cookie
    /// `Secure` with the `__Host-` prefix and turns on HSTS.
    #[arg(long, env = "LOOKOUT_PUBLIC_ORIGIN")]
    pub public_origin: Option<String>,
    /// Sign out after this long without a request (e.g. `30m`).
    #[arg(long, env = "LOOKOUT_SESSION_IDLE", default_value = "30m", value_parser = humantime::parse_duration)]
    pub session_idle: Duration,
    /// Sign out this long after sign-in, however active (e.g. `12h`).
    #[arg(long, env = "LOOKOUT_SESSION_MAX", default_value = "12h", value_parser = humantime::parse_duration)]
    pub session_max: Duration,
    /// Failed sign-ins per account and client address before a lockout. An account from all
    /// addresses gets 4× this before a short lockout; one address over all accounts 10×.
    #[arg(long, env = "LOOKOUT_LOGIN_MAX_FAILURES", default_value_t = 5)]
    pub login_max_failures: u32,
    /// First lockout after too many failures; doubles with each further failure, up to 15 min.
    #[arg(long, env = "LOOKOUT_LOGIN_LOCKOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub login_lockout: Duration,
    /// Shortest password accepted for new passwords (never below 8).
    #[arg(long, env = "LOOKOUT_PASSWORD_MIN_LENGTH", default_value_t = 8)]
    pub password_min_length: usize,
    /// Password hashes computed at once (each takes 19 MiB); default: the number of cores.
    #[arg(long, env = "LOOKOUT_HASH_CONCURRENCY")]
    pub hash_concurrency: Option<usize>,
    /// How often this machine is sampled.
    #[arg(long, env = "LOOKOUT_SAMPLE_INTERVAL", default_value = "1s", value_parser = humantime::parse_duration)]
    pub sample_interval: Duration,
    /// How much history each series keeps in memory.
    #[arg(long, env = "LOOKOUT_RETENTION", default_value = "15m", value_parser = humantime::parse_duration)]
    pub retention: Duration,
    /// How far an ingested sample's timestamp may be from the server's clock.
    #[arg(long, env = "LOOKOUT_INGEST_MAX_SKEW", default_value = "5m", value_parser = humantime::parse_duration)]
    pub ingest_max_skew: Duration,
    /// The name this machine's metrics appear under (default: its host name).
    #[arg(long, env = "LOOKOUT_HOST_NAME")]
    pub host_name: Option<String>,
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
}

/// Everything `serve` needs.
#[derive(Debug, Clone)]
pub struct Config {
    pub addr: SocketAddr,
    pub database_url: String,
    pub public_origin: Option<PublicOrigin>,
    pub sessions: SessionPolicy,
    pub throttle: ThrottlePolicy,
    pub password_min_chars: usize,
    pub hash_concurrency: usize,
    /// Password for the first-run `admin` account (`LOOKOUT_ADMIN_PASSWORD`); never a flag,
    /// so it does not show in the process list.
    pub admin_password: Option<String>,
    pub live: LiveConfig,
}

fn default_hash_concurrency() -> usize {
    std::thread::available_parallelism().map_or(2, usize::from)
}

impl Config {
    /// The defaults, on the given database.
    pub fn new(database_url: impl Into<String>) -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 3000)),
            database_url: database_url.into(),
            public_origin: None,
            sessions: SessionPolicy {
                idle: Duration::from_secs(30 * 60),
                max: Duration::from_secs(12 * 3600),
            },
            throttle: ThrottlePolicy::default(),
            password_min_chars: app::auth::PASSWORD_MIN_CHARS,
            hash_concurrency: default_hash_concurrency(),
            admin_password: None,
            live: LiveConfig::new(name_part(
                &sysinfo::System::host_name().unwrap_or_else(|| "localhost".into()),
            )),
        }
    }

    pub fn from_args(args: ServeArgs) -> anyhow::Result<Self> {
        if args.session_idle.is_zero() || args.session_max.is_zero() {
            bail!("--session-idle and --session-max must be longer than zero");
        }
        if args.login_max_failures == 0 {
            bail!("--login-max-failures must be at least 1");
        }
        let mut config = Self::new(args.db.database_url);
        config.addr = args.addr;
        config.public_origin = args
            .public_origin
            .as_deref()
            .map(PublicOrigin::parse)
            .transpose()?;
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
        Ok(config)
    }

    /// Cookies get `Secure` and the `__Host-` prefix when browsers reach us over https.
    pub fn secure_cookies(&self) -> bool {
        self.public_origin
            .as_ref()
            .is_some_and(PublicOrigin::is_https)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_origins_are_normalised_and_paths_refused() {
        assert_eq!(
            PublicOrigin::parse("https://Lookout.Example.com/")
                .unwrap()
                .as_str(),
            "https://lookout.example.com"
        );
        assert!(PublicOrigin::parse("https://lookout.example.com:8443")
            .unwrap()
            .is_https());
        assert!(PublicOrigin::parse("http://x/y").is_err());
        assert!(PublicOrigin::parse("ftp://x").is_err());
        assert!(PublicOrigin::parse("lookout.example.com").is_err());
    }
}
