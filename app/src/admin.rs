//! The admin pages: `/admin/users` and `/admin/tokens` (admins), `/admin/groups` (admins,
//! and owners for the groups they manage). Every form is a server function; the server
//! checks the caller's role before anything changes, whatever the page shows.

use crate::{
    account::{InviteShare, Role, TwoFactorPolicy},
    dashboard::{failure_view, format::DateTime, loading_view, Frame},
    error::ApiError,
    team::{AdminOutcome, GroupEntry, GroupsView, TokensView, UsersView},
};
use leptos::prelude::*;
use leptos_meta::Title;

type Outcome = Option<Result<AdminOutcome, ApiError>>;

#[cfg(feature = "ssr")]
mod serve {
    use crate::{
        account::{Principal, Role},
        backend::{request_context, require_principal, SharedBackend},
        error::{respond_with, ApiError},
        team::{AdminAction, AdminOutcome},
    };
    use http::request::Parts;

    pub fn caller() -> Result<(SharedBackend, Parts, Principal), ApiError> {
        let (backend, parts) = request_context().map_err(|e| respond_with(&e))?;
        let me = require_principal(&parts)?;
        Ok((backend, parts, me))
    }

    /// Runs one action through the backend, which checks the caller's role.
    pub async fn perform(action: AdminAction) -> Result<AdminOutcome, ApiError> {
        let (backend, parts, me) = caller()?;
        backend
            .admin(&parts, &me, action)
            .await
            .map_err(|e| respond_with(&e))
    }

    pub fn bad(e: impl std::fmt::Display) -> ApiError {
        respond_with(&ApiError::BadRequest(e.to_string()))
    }

    pub fn role(raw: &str) -> Result<Role, ApiError> {
        raw.parse().map_err(bad)
    }

    pub fn number(raw: &str, what: &str) -> Result<i64, ApiError> {
        raw.trim()
            .parse()
            .map_err(|_| bad(format!("{what} is a whole number")))
    }

    /// A form field that may be left empty.
    pub fn given(raw: Option<String>) -> Option<String> {
        raw.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
    }
}

/// Every account (admins only).
#[server(prefix = "/api/fn", endpoint = "admin_users")]
pub async fn admin_users() -> Result<UsersView, ApiError> {
    let (backend, _, me) = serve::caller()?;
    backend
        .admin_users(&me)
        .await
        .map_err(|e| crate::error::respond_with(&e))
}

/// The groups the caller manages.
#[server(prefix = "/api/fn", endpoint = "admin_groups")]
pub async fn admin_groups() -> Result<GroupsView, ApiError> {
    let (backend, _, me) = serve::caller()?;
    backend
        .admin_groups(&me)
        .await
        .map_err(|e| crate::error::respond_with(&e))
}

/// Every API token (admins only).
#[server(prefix = "/api/fn", endpoint = "admin_tokens")]
pub async fn admin_tokens() -> Result<TokensView, ApiError> {
    let (backend, _, me) = serve::caller()?;
    backend
        .admin_tokens(&me)
        .await
        .map_err(|e| crate::error::respond_with(&e))
}

#[server(prefix = "/api/fn", endpoint = "add_user")]
pub async fn add_user(
    username: String,
    password: String,
    role: String,
) -> Result<AdminOutcome, ApiError> {
    use crate::team::AdminAction;
    serve::perform(AdminAction::AddUser {
        username,
        password,
        role: serve::role(&role)?,
    })
    .await
}

/// `disabled` is `true` to disable, anything else to enable.
#[server(prefix = "/api/fn", endpoint = "set_user_disabled")]
pub async fn set_user_disabled(
    username: String,
    disabled: String,
) -> Result<AdminOutcome, ApiError> {
    use crate::team::AdminAction;
    serve::perform(AdminAction::SetDisabled {
        username,
        disabled: disabled == "true",
    })
    .await
}

#[server(prefix = "/api/fn", endpoint = "set_user_role")]
pub async fn set_user_role(username: String, role: String) -> Result<AdminOutcome, ApiError> {
    use crate::team::AdminAction;
    serve::perform(AdminAction::SetRole {
        username,
        role: serve::role(&role)?,
    })
    .await
}

#[server(prefix = "/api/fn", endpoint = "remove_user")]
pub async fn remove_user(username: String) -> Result<AdminOutcome, ApiError> {
    use crate::team::AdminAction;
    serve::perform(AdminAction::RemoveUser { username }).await
}

/// Turns a user's second factor off (they lost their device).
#[server(prefix = "/api/fn", endpoint = "reset_two_factor")]
pub async fn reset_two_factor(username: String) -> Result<AdminOutcome, ApiError> {
    use crate::team::AdminAction;
    serve::perform(AdminAction::ResetTwoFactor { username }).await
}

/// `policy`: `optional`, `admins` or `everyone`.
#[server(prefix = "/api/fn", endpoint = "set_two_factor_policy")]
pub async fn set_two_factor_policy(policy: String) -> Result<AdminOutcome, ApiError> {
    use crate::team::AdminAction;
    serve::perform(AdminAction::SetTwoFactorPolicy {
        policy: policy.parse().map_err(serve::bad)?,
    })
    .await
}

#[server(prefix = "/api/fn", endpoint = "create_group")]
pub async fn create_group(name: String, parent: Option<String>) -> Result<AdminOutcome, ApiError> {
    use crate::team::AdminAction;
    serve::perform(AdminAction::CreateGroup {
        name: name.trim().to_string(),
        parent: serve::given(parent),
    })
    .await
}

#[server(prefix = "/api/fn", endpoint = "rename_group")]
pub async fn rename_group(name: String, new_name: String) -> Result<AdminOutcome, ApiError> {
    use crate::team::AdminAction;
    serve::perform(AdminAction::RenameGroup {
        name,
        new_name: new_name.trim().to_string(),
    })
    .await
}

#[server(prefix = "/api/fn", endpoint = "nest_group")]
pub async fn nest_group(name: String, parent: String) -> Result<AdminOutcome, ApiError> {
    use crate::team::AdminAction;
    serve::perform(AdminAction::NestGroup { name, parent }).await
}

#[server(prefix = "/api/fn", endpoint = "delete_group")]
pub async fn delete_group(name: String) -> Result<AdminOutcome, ApiError> {
    use crate::team::AdminAction;
    serve::perform(AdminAction::DeleteGroup { name }).await
}

/// `owner` is present (a ticked box) to make the user an owner.
#[server(prefix = "/api/fn", endpoint = "add_member")]
pub async fn add_member(
    group: String,
    username: String,
    owner: Option<String>,
) -> Result<AdminOutcome, ApiError> {
    use crate::{account::Username, team::AdminAction};
    let username = Username::parse(&username).map_err(serve::bad)?;
    serve::perform(AdminAction::AddMember {
        group,
        username: username.to_string(),
        owner: owner.is_some(),
    })
    .await
}

#[server(prefix = "/api/fn", endpoint = "remove_member")]
pub async fn remove_member(group: String, username: String) -> Result<AdminOutcome, ApiError> {
    use crate::team::AdminAction;
    serve::perform(AdminAction::RemoveMember { group, username }).await
}

#[server(prefix = "/api/fn", endpoint = "move_host")]
pub async fn move_host(host: String, group: String) -> Result<AdminOutcome, ApiError> {
    use crate::team::AdminAction;
    serve::perform(AdminAction::MoveHost { host, group }).await
}

#[server(prefix = "/api/fn", endpoint = "create_invite")]
pub async fn create_invite(
    group: String,
    uses: String,
    expires_days: String,
) -> Result<AdminOutcome, ApiError> {
    use crate::team::AdminAction;
    serve::perform(AdminAction::CreateInvite {
        group,
        uses: serve::number(&uses, "Uses")?,
        expires_days: serve::number(&expires_days, "Days")?,
    })
    .await
}

#[server(prefix = "/api/fn", endpoint = "revoke_invite")]
pub async fn revoke_invite(id: String) -> Result<AdminOutcome, ApiError> {
    use crate::team::AdminAction;
    serve::perform(AdminAction::RevokeInvite {
        id: serve::number(&id, "An invite's id")?,
    })
    .await
}

#[server(prefix = "/api/fn", endpoint = "create_token")]
pub async fn create_token(
    name: String,
    scope: String,
    group: Option<String>,
    host: Option<String>,
) -> Result<AdminOutcome, ApiError> {
    use crate::team::AdminAction;
    serve::perform(AdminAction::CreateToken {
        name: name.trim().to_string(),
        scope,
        group: serve::given(group).filter(|g| g != "root"),
        host: serve::given(host),
    })
    .await
}

#[server(prefix = "/api/fn", endpoint = "revoke_token")]
pub async fn revoke_token(name: String) -> Result<AdminOutcome, ApiError> {
    use crate::team::AdminAction;
    serve::perform(AdminAction::RevokeToken { name }).await
}

fn when(unix_secs: i64) -> String {
    DateTime::from_ms(unix_secs.saturating_mul(1000)).full()
}

/// Keeps `last` at the newest answer of any of the page's actions.
fn follow(value: MappedSignal<Outcome>, last: RwSignal<Outcome>) {
    Effect::new(move |_| {
        if let Some(v) = value.get() {
            last.set(Some(v));
        }
    });
}

/// The answer of the last action: a sentence, a new invite (link and QR code) or a new
/// token's secret, or why it was refused.
fn outcome_view(last: RwSignal<Outcome>) -> impl IntoView {
    move || {
        last.get().map(|result| match result {
            Ok(AdminOutcome::Done(text)) => {
                view! { <p class="notice admin-outcome" role="status">{text}</p> }.into_any()
            }
            Ok(AdminOutcome::Invite(InviteShare { link, qr_svg })) => view! {
                <figure class="qr new-invite" role="status">
                    <figcaption>"Invite created. Share this link, or let them scan the code:"</figcaption>
                    <div class="qr-code" inner_html=qr_svg></div>
                    <code class="invite-link" data-testid="new-invite-link">{link}</code>
                </figure>
            }
            .into_any(),
            Ok(AdminOutcome::Token { name, secret }) => view! {
                <div class="notice new-token" role="status">
                    <p>{format!("Token {name} created. Copy it now: it is not shown again.")}</p>
                    <code data-testid="new-token-secret">{secret}</code>
                </div>
            }
            .into_any(),
            Err(e) => {
                view! { <p class="form-error admin-outcome" role="alert">{e.to_string()}</p> }
                    .into_any()
            }
        })
    }
}

/// The links between the admin pages.
#[component]
fn AdminNav(admin: bool) -> impl IntoView {
    view! {
        <nav class="admin-nav">
            {admin.then(|| view! { <a href="/admin/users">"Users"</a> })}
            <a href="/admin/groups">"Groups"</a>
            {admin.then(|| view! {
                <a href="/admin/tokens">"Tokens"</a>
                <a href="/settings/audit">"Audit log"</a>
            })}
        </nav>
    }
}

fn role_options(current: Role) -> impl IntoView {
    [Role::Viewer, Role::Admin]
        .into_iter()
        .map(|r| view! { <option value=r.as_str() selected=r == current>{r.as_str()}</option> })
        .collect_view()
}

#[component]
pub fn UsersPage() -> impl IntoView {
    let add = ServerAction::<AddUser>::new();
    let disable = ServerAction::<SetUserDisabled>::new();
    let role = ServerAction::<SetUserRole>::new();
    let remove = ServerAction::<RemoveUser>::new();
    let reset = ServerAction::<ResetTwoFactor>::new();
    let policy = ServerAction::<SetTwoFactorPolicy>::new();
    let last = RwSignal::new(None);
    follow(add.value(), last);
    follow(disable.value(), last);
    follow(role.value(), last);
    follow(remove.value(), last);
    follow(reset.value(), last);
    follow(policy.value(), last);
    let actions = UserActions {
        add,
        disable,
        role,
        remove,
        reset,
        policy,
    };
    let list = Resource::new(
        move || {
            add.version().get()
                + disable.version().get()
                + role.version().get()
                + remove.version().get()
                + reset.version().get()
                + policy.version().get()
        },
        |_| admin_users(),
    );
    view! {
        <Title text="Users"/>
        <Suspense fallback=loading_view>
            {move || Suspend::new(async move {
                match list.await {
                    Ok(view) => view! { <Users view actions last/> }.into_any(),
                    Err(err) => failure_view(err),
                }
            })}
        </Suspense>
    }
}

/// The actions of the users page.
#[derive(Clone, Copy)]
struct UserActions {
    add: ServerAction<AddUser>,
    disable: ServerAction<SetUserDisabled>,
    role: ServerAction<SetUserRole>,
    remove: ServerAction<RemoveUser>,
    reset: ServerAction<ResetTwoFactor>,
    policy: ServerAction<SetTwoFactorPolicy>,
}

#[component]
fn Users(view: UsersView, actions: UserActions, last: RwSignal<Outcome>) -> impl IntoView {
    let UserActions {
        add,
        disable,
        role,
        remove,
        reset,
        policy,
    } = actions;
    let UsersView {
        me,
        users,
        policy: current,
    } = view;
    let policies = TwoFactorPolicy::ALL
        .into_iter()
        .map(|p| view! { <option value=p.as_str() selected=p == current>{p.describe()}</option> })
        .collect_view();
    let rows = users
        .into_iter()
        .map(|u| {
            let own = u.name == me.username;
            let state = if u.disabled { "disabled" } else { "active" };
            let role_form = {
                let name = u.name.clone();
                view! {
                    <ActionForm action=role attr:class="inline">
                        <input type="hidden" name="username" value=name/>
                        <select name="role" disabled=own aria-label="Role">{role_options(u.role)}</select>
                        {(!own).then(|| view! { <button type="submit">"Set"</button> })}
                    </ActionForm>
                }
            };
            let reset_form = u.two_factor.then(|| {
                let name = u.name.clone();
                view! {
                    <ActionForm action=reset attr:class="inline">
                        <input type="hidden" name="username" value=name/>
                        <button type="submit" class="link-button">"Reset 2FA"</button>
                    </ActionForm>
                }
            });
            let others = (!own).then(|| {
                let (a, b) = (u.name.clone(), u.name.clone());
                let disabled = (!u.disabled).to_string();
                let label = if u.disabled { "Enable" } else { "Disable" };
                view! {
                    <ActionForm action=disable attr:class="inline">
                        <input type="hidden" name="username" value=a/>
                        <input type="hidden" name="disabled" value=disabled/>
                        <button type="submit">{label}</button>
                    </ActionForm>
                    <ActionForm action=remove attr:class="inline">
                        <input type="hidden" name="username" value=b/>
                        <button type="submit" class="danger">"Remove"</button>
                    </ActionForm>
                }
            });
            let groups = if u.groups.is_empty() {
                "—".to_string()
            } else {
                u.groups.join(", ")
            };
            view! {
                <tr data-user=u.name.clone() data-state=state>
                    <td>
                        <strong>{u.name.clone()}</strong>
                        {u.two_factor.then(|| view! { <span class="badge this-device">"2FA"</span> })}
                        {reset_form}
                        {u.disabled.then(|| view! { <span class="badge this-device">"disabled"</span> })}
                    </td>
                    <td>{role_form}</td>
                    <td>{groups}</td>
                    <td>{u.sessions}</td>
                    <td class="nowrap">{when(u.created_at)}</td>
                    <td class="actions">{others}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <Frame user=me wide=true>
            <AdminNav admin=true/>
            <h1>"Users"</h1>
            <p class="muted">
                "Changing a role, disabling or removing an account signs it out everywhere at once. "
                "To let someone choose their own password, send an invite from a group."
            </p>
            {outcome_view(last)}
            <table class="sessions admin-users">
                <thead>
                    <tr>
                        <th>"User"</th>
                        <th>"Role"</th>
                        <th>"Groups"</th>
                        <th>"Sessions"</th>
                        <th>"Created (UTC)"</th>
                        <th></th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
            <section class="admin-form">
                <h2>"Two-factor sign-in"</h2>
                <ActionForm action=policy attr:class="row-form two-factor-policy">
                    <label>"Policy " <select name="policy">{policies}</select></label>
                    <button type="submit">"Save"</button>
                </ActionForm>
                <p class="muted">
                    "When it is required, the next sign-in of anyone without a second factor "
                    "sets one up before it goes on."
                </p>
            </section>
            <section class="admin-form">
                <h2>"Add a user"</h2>
                <ActionForm action=add attr:class="row-form add-user">
                    <label>"Username " <input type="text" name="username" required autocomplete="off"/></label>
                    <label>"Password " <input type="password" name="password" required minlength="8" autocomplete="new-password"/></label>
                    <label>"Role " <select name="role">{role_options(Role::Viewer)}</select></label>
                    <button type="submit">"Add user"</button>
                </ActionForm>
            </section>
        </Frame>
    }
}

#[component]
pub fn GroupsPage() -> impl IntoView {
    let actions = GroupActions::new();
    let list = Resource::new(move || actions.version(), |_| admin_groups());
    view! {
        <Title text="Groups"/>
        <Suspense fallback=loading_view>
            {move || Suspend::new(async move {
                match list.await {
                    Ok(view) => view! { <Groups view actions/> }.into_any(),
                    Err(err) => failure_view(err),
                }
            })}
        </Suspense>
    }
}

/// The actions of the groups page, and the newest answer of any of them.
#[derive(Clone, Copy)]
struct GroupActions {
    create: ServerAction<CreateGroup>,
    rename: ServerAction<RenameGroup>,
    nest: ServerAction<NestGroup>,
    delete: ServerAction<DeleteGroup>,
    add_member: ServerAction<AddMember>,
    remove_member: ServerAction<RemoveMember>,
    move_host: ServerAction<MoveHost>,
    invite: ServerAction<CreateInvite>,
    revoke_invite: ServerAction<RevokeInvite>,
    last: RwSignal<Outcome>,
}

impl GroupActions {
    fn new() -> Self {
        let actions = Self {
            create: ServerAction::new(),
            rename: ServerAction::new(),
            nest: ServerAction::new(),
            delete: ServerAction::new(),
            add_member: ServerAction::new(),
            remove_member: ServerAction::new(),
            move_host: ServerAction::new(),
            invite: ServerAction::new(),
            revoke_invite: ServerAction::new(),
            last: RwSignal::new(None),
        };
        follow(actions.create.value(), actions.last);
        follow(actions.rename.value(), actions.last);
        follow(actions.nest.value(), actions.last);
        follow(actions.delete.value(), actions.last);
        follow(actions.add_member.value(), actions.last);
        follow(actions.remove_member.value(), actions.last);
        follow(actions.move_host.value(), actions.last);
        follow(actions.invite.value(), actions.last);
        follow(actions.revoke_invite.value(), actions.last);
        actions
    }

    /// Moves on whenever any action has answered: the list is read again.
    fn version(&self) -> usize {
        self.create.version().get()
            + self.rename.version().get()
            + self.nest.version().get()
            + self.delete.version().get()
            + self.add_member.version().get()
            + self.remove_member.version().get()
            + self.move_host.version().get()
            + self.invite.version().get()
            + self.revoke_invite.version().get()
    }
}

fn group_options(names: &[String], selected: Option<&str>) -> impl IntoView {
    names
        .iter()
        .map(|n| {
            let chosen = Some(n.as_str()) == selected;
            view! { <option value=n.clone() selected=chosen>{n.clone()}</option> }
        })
        .collect_view()
}

#[component]
fn Groups(view: GroupsView, actions: GroupActions) -> impl IntoView {
    let GroupsView { me, groups } = view;
    let admin = me.role == Role::Admin;
    let names: Vec<String> = groups.iter().map(|g| g.name.clone()).collect();
    let none = groups.is_empty();
    let cards = groups
        .into_iter()
        .map(|group| view! { <GroupCard group names=names.clone() admin actions/> })
        .collect_view();
    view! {
        <Frame user=me wide=true>
            <AdminNav admin/>
            <h1>"Groups"</h1>
            <p class="muted">
                "A member sees the group's hosts and those of every group below it. "
                "An owner manages its members, invites and hosts."
            </p>
            {outcome_view(actions.last)}
            {none.then(|| view! {
                <p class="muted empty-groups">"You manage no groups. An admin or a group's owner can make you one."</p>
            })}
            {admin.then(|| view! {
                <section class="admin-form">
                    <h2>"Create a group"</h2>
                    <ActionForm action=actions.create attr:class="row-form create-group">
                        <label>"Name " <input type="text" name="name" required autocomplete="off"/></label>
                        <label>"Below " <select name="parent">{group_options(&names, Some("root"))}</select></label>
                        <button type="submit">"Create group"</button>
                    </ActionForm>
                </section>
            })}
            {cards}
        </Frame>
    }
}

#[component]
fn GroupCard(
    group: GroupEntry,
    names: Vec<String>,
    admin: bool,
    actions: GroupActions,
) -> impl IntoView {
    let GroupEntry {
        name,
        parent,
        depth,
        members,
        hosts,
        invites,
    } = group;
    let members = members
        .into_iter()
        .map(|m| {
            let (group, user) = (name.clone(), m.user.clone());
            view! {
                <li data-member=m.user.clone()>
                    {m.user.clone()}
                    {m.owner.then(|| view! { <span class="badge this-device">"owner"</span> })}
                    <ActionForm action=actions.remove_member attr:class="inline">
                        <input type="hidden" name="group" value=group/>
                        <input type="hidden" name="username" value=user/>
                        <button type="submit" class="link-button">"Remove"</button>
                    </ActionForm>
                </li>
            }
        })
        .collect_view();
    let hosts = hosts
        .into_iter()
        .map(|h| {
            let options = group_options(&names, Some(&name));
            let host = h.clone();
            view! {
                <li data-host=h.clone()>
                    <a href=format!("/hosts/{h}")>{h.clone()}</a>
                    <ActionForm action=actions.move_host attr:class="inline">
                        <input type="hidden" name="host" value=host/>
                        <select name="group" aria-label="Move to">{options}</select>
                        <button type="submit" class="link-button">"Move"</button>
                    </ActionForm>
                </li>
            }
        })
        .collect_view();
    let invites = invites
        .into_iter()
        .map(|i| {
            let id = i.id.to_string();
            let revoke = (i.state == "open").then(|| {
                view! {
                    <ActionForm action=actions.revoke_invite attr:class="inline">
                        <input type="hidden" name="id" value=id/>
                        <button type="submit" class="link-button">"Revoke"</button>
                    </ActionForm>
                }
            });
            view! {
                <tr data-invite=i.id.to_string() data-state=i.state.clone()>
                    <td>{i.id}</td>
                    <td>{i.state.clone()}</td>
                    <td>{format!("{} of {}", i.uses, i.max_uses)}</td>
                    <td class="nowrap">{when(i.expires_at)}</td>
                    <td>{i.created_by.unwrap_or_default()}</td>
                    <td>{revoke}</td>
                </tr>
            }
        })
        .collect_view();
    let root = name == "root";
    // Indented by a class, not a style attribute: the CSP allows no inline styles.
    let depth = depth.min(6).to_string();
    let shape = (admin && !root).then(|| {
        let (a, b, c) = (name.clone(), name.clone(), name.clone());
        let parents = group_options(&names, parent.as_deref());
        view! {
            <details class="group-admin">
                <summary>"Rename, move or delete"</summary>
                <ActionForm action=actions.rename attr:class="row-form">
                    <input type="hidden" name="name" value=a/>
                    <input type="text" name="new_name" placeholder="new name" required aria-label="New name"/>
                    <button type="submit">"Rename"</button>
                </ActionForm>
                <ActionForm action=actions.nest attr:class="row-form">
                    <input type="hidden" name="name" value=b/>
                    <select name="parent" aria-label="New parent">{parents}</select>
                    <button type="submit">"Move below"</button>
                </ActionForm>
                <ActionForm action=actions.delete attr:class="row-form">
                    <input type="hidden" name="name" value=c/>
                    <button type="submit" class="danger">"Delete (when empty)"</button>
                </ActionForm>
            </details>
        }
    });
    let (member_group, invite_group) = (name.clone(), name.clone());
    view! {
        <section class="group-card" data-group=name.clone() data-depth=depth>
            <h2>
                {name.clone()}
                {parent.map(|p| view! { <span class="muted below">{format!(" below {p}")}</span> })}
            </h2>
            <div class="group-columns">
                <div>
                    <h3>"Members"</h3>
                    <ul class="plain">{members}</ul>
                    <ActionForm action=actions.add_member attr:class="row-form add-member">
                        <input type="hidden" name="group" value=member_group/>
                        <input type="text" name="username" placeholder="username" required autocomplete="off" aria-label="Username"/>
                        <label class="check"><input type="checkbox" name="owner"/>" owner"</label>
                        <button type="submit">"Add"</button>
                    </ActionForm>
                </div>
                <div>
                    <h3>"Hosts"</h3>
                    <ul class="plain">{hosts}</ul>
                </div>
            </div>
            <h3>"Invites"</h3>
            <table class="sessions invites">
                <thead>
                    <tr>
                        <th>"#"</th>
                        <th>"State"</th>
                        <th>"Used"</th>
                        <th>"Expires (UTC)"</th>
                        <th>"By"</th>
                        <th></th>
                    </tr>
                </thead>
                <tbody>{invites}</tbody>
            </table>
            <ActionForm action=actions.invite attr:class="row-form create-invite">
                <input type="hidden" name="group" value=invite_group/>
                <label>"Uses " <input type="number" name="uses" value="1" min="1" max="1000"/></label>
                <label>"Days " <input type="number" name="expires_days" value="7" min="1" max="90"/></label>
                <button type="submit">"Create invite"</button>
            </ActionForm>
            {shape}
        </section>
    }
}

#[component]
pub fn TokensPage() -> impl IntoView {
    let create = ServerAction::<CreateToken>::new();
    let revoke = ServerAction::<RevokeToken>::new();
    let last = RwSignal::new(None);
    follow(create.value(), last);
    follow(revoke.value(), last);
    let list = Resource::new(
        move || create.version().get() + revoke.version().get(),
        |_| admin_tokens(),
    );
    view! {
        <Title text="Tokens"/>
        <Suspense fallback=loading_view>
            {move || Suspend::new(async move {
                match list.await {
                    Ok(view) => view! { <Tokens view create revoke last/> }.into_any(),
                    Err(err) => failure_view(err),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Tokens(
    view: TokensView,
    create: ServerAction<CreateToken>,
    revoke: ServerAction<RevokeToken>,
    last: RwSignal<Outcome>,
) -> impl IntoView {
    let TokensView { me, tokens, groups } = view;
    let rows = tokens
        .into_iter()
        .map(|t| {
            let name = t.name.clone();
            view! {
                <tr data-token=t.name.clone()>
                    <td><strong>{t.name.clone()}</strong></td>
                    <td>{t.scope}</td>
                    <td>{t.hosts}</td>
                    <td>{t.group}</td>
                    <td class="nowrap">{when(t.created_at)}</td>
                    <td class="nowrap">{t.last_used.map_or_else(|| "never".to_string(), when)}</td>
                    <td>
                        <ActionForm action=revoke attr:class="inline">
                            <input type="hidden" name="name" value=name/>
                            <button type="submit" class="danger">"Revoke"</button>
                        </ActionForm>
                    </td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <Frame user=me wide=true>
            <AdminNav admin=true/>
            <h1>"API tokens"</h1>
            <p class="muted">
                "Ingest tokens let agents push samples; read tokens read the API. "
                "A token's secret is shown once, when it is made."
            </p>
            {outcome_view(last)}
            <table class="sessions admin-tokens">
                <thead>
                    <tr>
                        <th>"Name"</th>
                        <th>"Scope"</th>
                        <th>"Hosts"</th>
                        <th>"Group"</th>
                        <th>"Created (UTC)"</th>
                        <th>"Last used"</th>
                        <th></th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
            <section class="admin-form">
                <h2>"Create a token"</h2>
                <ActionForm action=create attr:class="row-form create-token">
                    <label>"Name " <input type="text" name="name" required autocomplete="off"/></label>
                    <label>
                        "Scope "
                        <select name="scope">
                            <option value="ingest">"ingest"</option>
                            <option value="read">"read"</option>
                        </select>
                    </label>
                    <label>"Group " <select name="group">{group_options(&groups, Some("root"))}</select></label>
                    <label>"Hosts " <input type="text" name="host" placeholder="web-* (ingest; empty: its first host)"/></label>
                    <button type="submit">"Create token"</button>
                </ActionForm>
            </section>
        </Frame>
    }
}
