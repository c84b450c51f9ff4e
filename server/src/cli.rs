//! The `lookout` command line: `serve` and the account commands, which work on the same
//! database as a running server and take effect on it at once.

use crate::{
    access::tokens::{HostBinding, Scope},
    auth::{
        password::{random_password, Hasher},
        Auth,
    },
    config::{Config, DatabaseArgs, EmbeddedFiles, ServeArgs},
    store::{
        audit::{Actor, AuditEvent},
        settings::PASSWORD_MIN_LENGTH,
        Db,
    },
    Application,
};
use anyhow::{bail, Context};
use app::auth::Role;
use clap::{Args, FromArgMatches, Parser, Subcommand};
use std::io::BufRead;

/// The actor of every change made here, in the audit log.
const CLI: Actor = Actor::CommandLine;

#[derive(Debug, Parser)]
#[command(
    name = "lookout",
    version,
    about = "A secure, live monitoring dashboard."
)]
pub struct Cli {
    /// Without a command, `lookout` serves (as `cargo leptos watch` runs it).
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Log lines as text, or as one JSON object a line (for a log collector).
    #[arg(
        long,
        global = true,
        env = "LOOKOUT_LOG_FORMAT",
        value_enum,
        default_value_t
    )]
    pub log_format: crate::telemetry::LogFormat,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the dashboard.
    Serve(Box<ServeArgs>),
    /// Manage accounts.
    User {
        #[command(flatten)]
        db: DatabaseArgs,
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Sample this machine and push it to a Lookout server.
    Agent(crate::agent::AgentArgs),
    /// Manage API tokens (for `POST /api/v1/ingest` and the read API).
    Token {
        #[command(flatten)]
        db: DatabaseArgs,
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// List, move or remove the hosts that have pushed data.
    Host {
        #[command(flatten)]
        db: DatabaseArgs,
        #[command(subcommand)]
        command: HostCommand,
    },
    /// Invite people to a group with a link.
    Invite {
        #[command(flatten)]
        db: DatabaseArgs,
        #[command(subcommand)]
        command: InviteCommand,
    },
    /// Manage groups and their members: a member sees the group's hosts and those of
    /// every group below it. A running server applies changes within a second.
    Group {
        #[command(flatten)]
        db: DatabaseArgs,
        #[command(subcommand)]
        command: GroupCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum InviteCommand {
    /// Create an invite to a group and print its link (on a line of its own).
    Create {
        group: String,
        /// How many people may use it.
        #[arg(long, default_value_t = 1)]
        uses: i64,
        /// How long it stays open (`30m`, `7d`; at most 90 days).
        #[arg(long, default_value = "7d", value_parser = crate::config::duration)]
        expires: std::time::Duration,
        /// Where the server is reached, for the link (`https://lookout.example.com`).
        #[arg(long, env = "LOOKOUT_PUBLIC_ORIGIN")]
        public_origin: Option<String>,
        #[arg(long, env = "LOOKOUT_ADDR", default_value = "127.0.0.1:3000")]
        addr: String,
    },
    /// List invites and their state (open, used, expired, revoked).
    List,
    /// Revoke an invite: its link stops working at once.
    Revoke { id: i64 },
}

#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// Create a group, below `--parent` (the root group without it).
    Add {
        name: String,
        #[arg(long)]
        parent: Option<String>,
    },
    /// List groups with their parent, members and number of hosts.
    List,
    /// Remove an empty group.
    Remove { name: String },
    /// Give a group a new name.
    Rename { name: String, new_name: String },
    /// Put a group, with everything below it, under another group.
    Nest { name: String, parent: String },
    /// Add or remove members.
    Member {
        #[command(subcommand)]
        command: MemberCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum MemberCommand {
    /// Make a user a member of a group (an owner with `--owner`).
    Add {
        group: String,
        user: String,
        #[arg(long)]
        owner: bool,
    },
    /// Take a user out of a group; their open pages lose its hosts at once.
    Remove { group: String, user: String },
}

#[derive(Debug, Subcommand)]
pub enum HostCommand {
    /// List hosts, with the token that created each.
    List,
    /// Remove a host and all of its stored data; a running server drops it within seconds.
    Remove { name: String },
    /// Move a host into a group.
    Move { name: String, group: String },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it once.
    Create {
        name: String,
        #[arg(long)]
        scope: Scope,
        /// The hosts an ingest token may write: a name or a glob (`web-*`). Without it, the
        /// token binds itself to the first host it writes.
        #[arg(long)]
        host: Option<String>,
        /// The group: an ingest token's new hosts join it, a read token reads only it and
        /// the groups below it. The root group without it.
        #[arg(long)]
        group: Option<String>,
    },
    /// List tokens (never their secrets).
    List,
    /// Revoke a token at once.
    Revoke { name: String },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account. Without --password-stdin a random password is printed once.
    Add {
        name: String,
        #[arg(long, default_value = "viewer")]
        role: Role,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List accounts.
    List,
    /// Remove an account and end its sessions.
    Remove { name: String },
    /// Set a new password and end every session of the account.
    Passwd {
        name: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List an account's live sessions.
    Sessions { name: String },
    /// End every session of an account.
    Revoke { name: String },
    /// Give an account another role; its sessions end.
    Role { name: String, role: Role },
    /// Disable an account: it cannot sign in, and its sessions end.
    Disable { name: String },
    /// Enable a disabled account.
    Enable { name: String },
}

/// Runs the command; `serve` serves `embedded_site` when the binary carries one.
pub async fn run(cli: Cli, embedded_site: Option<EmbeddedFiles>) -> anyhow::Result<()> {
    let command = match cli.command {
        Some(command) => command,
        // `serve`, with its settings from the environment only.
        None => {
            let matches = ServeArgs::augment_args(clap::Command::new("lookout"))
                .try_get_matches_from(["lookout"])?;
            Command::Serve(Box::new(ServeArgs::from_arg_matches(&matches)?))
        }
    };
    match command {
        Command::Serve(args) => {
            let mut config = Config::from_args(*args)?;
            config.embedded_site = embedded_site;
            let app = Application::build(config).await?;
            app.run_until_signal().await
        }
        Command::User { db, command } => run_user(Config::new(db.database_url), command).await,
        Command::Token { db, command } => run_token(&db.database_url, command).await,
        Command::Host { db, command } => run_host(&db.database_url, command).await,
        Command::Group { db, command } => run_group(&db.database_url, command).await,
        Command::Invite { db, command } => run_invite(&db.database_url, command).await,
        Command::Agent(args) => crate::agent::run(args).await,
    }
}

/// The shortest new password the CLI accepts: the largest of the built-in minimum,
/// `LOOKOUT_PASSWORD_MIN_LENGTH`, and what a server on the same database was started with.
async fn password_min_chars(db: &Db) -> anyhow::Result<usize> {
    let from_env = std::env::var("LOOKOUT_PASSWORD_MIN_LENGTH")
        .ok()
        .map(|v| {
            v.parse::<usize>()
                .with_context(|| format!("LOOKOUT_PASSWORD_MIN_LENGTH={v:?} is not a number"))
        })
        .transpose()?
        .unwrap_or(0);
    let from_server = db
        .setting(PASSWORD_MIN_LENGTH)
        .await?
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    Ok(app::auth::PASSWORD_MIN_CHARS.max(from_env).max(from_server))
}

async fn run_user(config: Config, command: UserCommand) -> anyhow::Result<()> {
    let db = Db::connect(&config.database_url).await?;
    let auth = Auth::new(
        db.clone(),
        Hasher::new(1, Default::default()).map_err(|e| anyhow::anyhow!(e))?,
        config.throttle,
        config.sessions,
        password_min_chars(&db).await?,
    );
    match command {
        UserCommand::Add {
            name,
            role,
            password_stdin,
        } => {
            let (password, generated) = password_from(password_stdin)?;
            let name = auth.add_user(&CLI, &name, role, password.clone()).await?;
            println!("created {role} {name}");
            if generated {
                println!("password (shown once): {password}");
            }
        }
        UserCommand::List => {
            println!("{:<32} {:<8} {:<9} created", "username", "role", "state");
            for user in db.list_users().await? {
                println!(
                    "{:<32} {:<8} {:<9} {}",
                    user.username,
                    user.role,
                    if user.disabled { "disabled" } else { "active" },
                    format_time(user.created_at)
                );
            }
        }
        UserCommand::Remove { name } => {
            auth.remove_user(&CLI, &name).await?;
            println!("removed {name}; its sessions have ended");
        }
        UserCommand::Passwd {
            name,
            password_stdin,
        } => {
            let (password, generated) = password_from(password_stdin)?;
            let ended = auth.change_password(&CLI, &name, password.clone()).await?;
            println!("password changed; {ended} session(s) ended");
            if generated {
                println!("password (shown once): {password}");
            }
        }
        UserCommand::Sessions { name } => {
            println!("{:<25} {:<25} expires", "signed in", "last seen");
            for s in auth.sessions_of(&name).await? {
                println!(
                    "{:<25} {:<25} {}",
                    format_time(s.created_at),
                    format_time(s.last_seen),
                    format_time(s.expires_at)
                );
            }
        }
        UserCommand::Revoke { name } => {
            let ended = auth.revoke_sessions(&CLI, &name).await?;
            println!("{ended} session(s) of {name} ended");
        }
        UserCommand::Role { name, role } => {
            let ended = auth.set_role(&CLI, &name, role).await?;
            println!("{name} is now {role}; {ended} session(s) ended");
        }
        UserCommand::Disable { name } => {
            let ended = auth.set_disabled(&CLI, &name, true).await?;
            println!("{name} is disabled; {ended} session(s) ended");
        }
        UserCommand::Enable { name } => {
            auth.set_disabled(&CLI, &name, false).await?;
            println!("{name} is enabled");
        }
    }
    Ok(())
}

async fn run_token(database_url: &str, command: TokenCommand) -> anyhow::Result<()> {
    let db = Db::connect(database_url).await?;
    match command {
        TokenCommand::Create {
            name,
            scope,
            host,
            group,
        } => {
            let hosts = host
                .as_deref()
                .map(HostBinding::parse)
                .transpose()?
                .unwrap_or(HostBinding::Unbound);
            let token = db
                .create_token_in(&CLI, &name, scope, hosts.clone(), group.as_deref())
                .await?;
            match scope {
                Scope::Ingest => println!(
                    "created ingest token {name} for hosts {hosts}; it is shown only this once:"
                ),
                Scope::Read => println!("created read token {name}; it is shown only this once:"),
            }
            println!("{}", token.expose());
        }
        TokenCommand::List => {
            println!(
                "{:<32} {:<7} {:<24} {:<25} last used",
                "name", "scope", "hosts", "created"
            );
            for t in db.list_tokens().await? {
                let used = t
                    .last_used_at
                    .map_or_else(|| "never".to_string(), format_time);
                let hosts = match t.scope {
                    Scope::Ingest => t.hosts.to_string(),
                    Scope::Read => "-".to_string(),
                };
                println!(
                    "{:<32} {:<7} {:<24} {:<25} {used}",
                    t.name,
                    t.scope,
                    hosts,
                    format_time(t.created_at)
                );
            }
        }
        TokenCommand::Revoke { name } => {
            db.revoke_token(&CLI, &name).await?;
            println!("revoked token {name}");
        }
    }
    Ok(())
}

async fn run_host(database_url: &str, command: HostCommand) -> anyhow::Result<()> {
    let db = Db::connect(database_url).await?;
    match command {
        HostCommand::List => {
            println!("{:<40} {:<32} first seen", "host", "token");
            for h in db.list_hosts().await? {
                println!(
                    "{:<40} {:<32} {}",
                    h.name,
                    h.token.as_deref().unwrap_or("-"),
                    format_time(h.created_at)
                );
            }
        }
        HostCommand::Remove { name } => {
            if !db.remove_host(&name).await? {
                bail!("no host named {name}");
            }
            db.audit_by(&CLI, AuditEvent::HostRemoved, None, Some(&name))
                .await;
            println!("removed host {name} and its data");
        }
        HostCommand::Move { name, group } => {
            db.move_host(&CLI, &name, &group).await?;
            println!("moved host {name} to group {group}");
        }
    }
    Ok(())
}

async fn run_invite(database_url: &str, command: InviteCommand) -> anyhow::Result<()> {
    let db = Db::connect(database_url).await?;
    match command {
        InviteCommand::Create {
            group,
            uses,
            expires,
            public_origin,
            addr,
        } => {
            let secs = i64::try_from(expires.as_secs()).unwrap_or(i64::MAX);
            let token = db.create_invite(&group, uses, secs, &CLI).await?;
            let base = public_origin.unwrap_or_else(|| format!("http://{addr}"));
            println!(
                "invite {} to {group}: {uses} use(s), open for {}; its link, shown only now:",
                token.id(),
                humantime::format_duration(expires)
            );
            println!("{}/invite/{}", base.trim_end_matches('/'), token.expose());
        }
        InviteCommand::List => {
            let now = crate::store::unix_now();
            println!(
                "{:>4}  {:<20} {:<8} {:>9}  expires",
                "id", "group", "state", "uses"
            );
            for i in db.list_invites().await? {
                println!(
                    "{:>4}  {:<20} {:<8} {:>4}/{:<4}  {}",
                    i.id,
                    i.group,
                    i.state(now),
                    i.uses,
                    i.max_uses,
                    format_time(i.expires_at)
                );
            }
        }
        InviteCommand::Revoke { id } => {
            db.revoke_invite(id, &CLI).await?;
            println!("revoked invite {id}");
        }
    }
    Ok(())
}

async fn run_group(database_url: &str, command: GroupCommand) -> anyhow::Result<()> {
    let db = Db::connect(database_url).await?;
    match command {
        GroupCommand::Add { name, parent } => {
            db.create_group(&CLI, &name, parent.as_deref()).await?;
            println!(
                "created group {name} below {}",
                parent.as_deref().unwrap_or("root")
            );
        }
        GroupCommand::List => {
            println!("{:<24} {:<24} {:>5}  members", "group", "parent", "hosts");
            for g in db.list_groups().await? {
                println!(
                    "{:<24} {:<24} {:>5}  {}",
                    g.name,
                    g.parent.as_deref().unwrap_or("-"),
                    g.hosts,
                    g.members.join(", ")
                );
            }
        }
        GroupCommand::Remove { name } => {
            db.remove_group(&CLI, &name).await?;
            println!("removed group {name}");
        }
        GroupCommand::Rename { name, new_name } => {
            db.rename_group(&CLI, &name, &new_name).await?;
            println!("renamed group {name} to {new_name}");
        }
        GroupCommand::Nest { name, parent } => {
            db.nest_group(&CLI, &name, &parent).await?;
            println!("group {name} is now below {parent}");
        }
        GroupCommand::Member {
            command: MemberCommand::Add { group, user, owner },
        } => {
            db.add_member(&CLI, &group, &user, owner).await?;
            let role = if owner { "an owner" } else { "a member" };
            println!("{user} is {role} of {group}");
        }
        GroupCommand::Member {
            command: MemberCommand::Remove { group, user },
        } => {
            db.remove_member(&CLI, &group, &user).await?;
            println!("{user} is no longer a member of {group}");
        }
    }
    Ok(())
}

/// A password from stdin's first line, or a fresh random one (and whether it was generated).
fn password_from(stdin: bool) -> anyhow::Result<(String, bool)> {
    if !stdin {
        return Ok((random_password(), true));
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from standard input")?;
    let password = line.trim_end_matches(['\r', '\n']).to_string();
    if password.is_empty() {
        bail!("no password on standard input");
    }
    Ok((password, false))
}

fn format_time(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| unix.to_string())
}
