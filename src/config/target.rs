//! Where the tasks run: the backend, the API key (and what to do without one), the universe,
//! its places and version, and the base URL the client talks to.

use reqwest::Url;

use super::inputs::{Inputs, LUAU_EXEC_TEST_TIME_SCALE};
use super::{ConfigError, Problems, shorten};
use crate::clock::{Cadence, Timing};
use crate::secret::ApiKey;

pub const DEFAULT_BASE_URL: &str = "https://apis.roblox.com";

/// Where the task runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Roblox Open Cloud (or whatever `base-url` points at).
    OpenCloud,
    /// The embedded emulator, started in-process on a loopback port.
    Local,
}

/// What to do when no API key is given (a fork pull request has no secrets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissingKeyPolicy {
    Fail,
    Skip,
}

/// Where the step runs, and with what key. Open Cloud always has one: a missing key is either
/// refused as bad input or makes the run [`Target::Skipped`]; the local backend makes its own.
#[derive(Debug, Clone)]
pub enum Target {
    /// Roblox Open Cloud, or whatever `base-url` points at, with the user's key.
    OpenCloud { key: ApiKey, base_url: Url },
    /// The embedded emulator, started in-process on a loopback port with a one-off key. A key
    /// given anyway is kept only to be hidden from everything printed.
    Local { given_key: Option<ApiKey> },
    /// No key and `on-missing-key: skip`: nothing is sent, and the run says why.
    Skipped { why: &'static str },
}

impl Target {
    /// The user's key, to be removed from everything printed or written.
    pub fn secret(&self) -> Option<&ApiKey> {
        match self {
            Self::OpenCloud { key, .. } => Some(key),
            Self::Local { given_key } => given_key.as_ref(),
            Self::Skipped { .. } => None,
        }
    }

    /// Which backend the inputs chose.
    pub fn backend(&self) -> Backend {
        match self {
            Self::OpenCloud { .. } | Self::Skipped { .. } => Backend::OpenCloud,
            Self::Local { .. } => Backend::Local,
        }
    }
}

/// Why a run without a key is skipped (`on-missing-key: skip`).
const SKIPPED_WITHOUT_KEY: &str = "no API key was given (a pull request from a fork gets no secrets), so the Luau run was skipped";

/// Where the tasks run, as read: the backend, the key, the universe and places.
pub(super) struct Site {
    pub(super) backend: Backend,
    pub(super) api_key: Option<ApiKey>,
    pub(super) missing_key: MissingKeyPolicy,
    pub(super) universe_id: u64,
    pub(super) place_ids: Vec<u64>,
    pub(super) place_version: Option<u64>,
}

/// The backend, the key and the IDs; `None` when one of them is refused.
pub(super) fn load_target(
    inputs: &Inputs<'_>,
    problems: &mut Problems,
    github_actions: bool,
) -> Option<Site> {
    let args = inputs.args;
    let backend = match inputs.input("backend", &args.backend).as_deref() {
        None | Some("open-cloud") => Some(Backend::OpenCloud),
        Some("local") => Some(Backend::Local),
        Some(other) => {
            problems.push(
                "backend",
                format!(
                    "`{}` is not a backend: use `open-cloud` or `local`",
                    shorten(other)
                ),
            );
            None
        }
    };
    let missing_key = match inputs
        .input("on-missing-key", &args.on_missing_key)
        .as_deref()
    {
        None | Some("fail") => Some(MissingKeyPolicy::Fail),
        Some("skip") => Some(MissingKeyPolicy::Skip),
        Some(other) => {
            problems.push(
                "on-missing-key",
                format!("`{}` is not a policy: use `fail` or `skip`", shorten(other)),
            );
            None
        }
    };
    let api_key = problems.take(load_api_key(inputs, backend, missing_key, github_actions));
    // Without a known backend, whether IDs are required is not known either.
    let required_id = |name: &'static str, flag: &Option<String>| match inputs.input(name, flag) {
        Some(text) => parse_id(name, &text),
        None if backend != Some(Backend::OpenCloud) => Ok(1),
        None => Err(ConfigError::new(name, "is required")),
    };
    let universe_id = problems.take(required_id("universe-id", &args.universe_id));
    let place_ids = match inputs.input("place-ids", &args.place_ids) {
        Some(_) if inputs.input("place-id", &args.place_id).is_some() => {
            problems.push(
                "place-ids",
                "conflicts with `place-id`: give one place in `place-id`, or several in `place-ids`",
            );
            None
        }
        Some(text) => problems.take(parse_id_list("place-ids", &text)),
        None => problems
            .take(required_id("place-id", &args.place_id))
            .map(|id| vec![id]),
    };
    let place_version = inputs
        .input("place-version", &args.place_version)
        .map(|text| problems.take(parse_id("place-version", &text)));
    if let (Some(Some(_)), Some(ids)) = (&place_version, &place_ids)
        && ids.len() > 1
    {
        problems.push(
            "place-version",
            "names a version of one place, but `place-ids` lists several: a version number is each place's own",
        );
    }
    Some(Site {
        backend: backend?,
        api_key: api_key?,
        missing_key: missing_key?,
        universe_id: universe_id?,
        place_ids: place_ids?,
        place_version: match place_version {
            Some(version) => Some(version?),
            None => None,
        },
    })
}

impl Site {
    /// The target, once the base URL is known. The missing-key policy is settled here: `fail`
    /// without a key was refused as bad input (see [`load_api_key`]).
    pub(super) fn target(&self, base_url: Url) -> Target {
        match (self.backend, self.api_key.clone()) {
            (Backend::Local, given_key) => Target::Local { given_key },
            (Backend::OpenCloud, Some(key)) => Target::OpenCloud { key, base_url },
            (Backend::OpenCloud, None) => {
                debug_assert_eq!(self.missing_key, MissingKeyPolicy::Skip);
                Target::Skipped {
                    why: SKIPPED_WITHOUT_KEY,
                }
            }
        }
    }
}

/// `base-url`, Open Cloud's unless given.
pub(super) fn load_base_url(inputs: &Inputs<'_>, problems: &mut Problems) -> Option<Url> {
    problems.take(parse_base_url(
        inputs
            .input("base-url", &inputs.args.base_url)
            .as_deref()
            .unwrap_or(DEFAULT_BASE_URL),
    ))
}

/// The key (never echoed, and never trimmed into a message), and whether it is required.
pub(super) fn load_api_key(
    inputs: &Inputs<'_>,
    backend: Option<Backend>,
    missing_key: Option<MissingKeyPolicy>,
    github_actions: bool,
) -> Result<Option<ApiKey>, ConfigError> {
    let api_key = inputs
        .env_input("api-key")
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .map(ApiKey::new);
    if let Some(key) = &api_key
        && !key.expose().bytes().all(|b| b.is_ascii_graphic())
    {
        // Never echo the key; say only what kind of problem it has.
        return Err(ConfigError::new(
            "api-key",
            "contains spaces or characters that cannot go in an HTTP header: check the secret holds only the key",
        ));
    }
    if (backend, missing_key, &api_key)
        == (
            Some(Backend::OpenCloud),
            Some(MissingKeyPolicy::Fail),
            &None,
        )
    {
        return Err(ConfigError::new(
            "api-key",
            if github_actions {
                "is required (pass an Open Cloud API key from `secrets.*`; a pull request from a fork gets no secrets: set `on-missing-key: skip` to skip such runs, or use `backend: local`)"
            } else {
                "is required: set the environment variable to an Open Cloud API key (it has no flag, as flags show in process listings), or run on the embedded emulator with `--backend local`, or skip the run with `--on-missing-key skip`"
            },
        ));
    }
    Ok(api_key)
}

pub(super) fn timing(inputs: &Inputs<'_>, backend: Backend) -> Timing {
    Timing {
        scale: inputs
            .var(LUAU_EXEC_TEST_TIME_SCALE)
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s > 0.0 && *s <= 1.0)
            .unwrap_or(1.0),
        cadence: match backend {
            Backend::OpenCloud => Cadence::OpenCloud,
            Backend::Local => Cadence::Local,
        },
    }
}

pub(super) fn parse_id(input: &'static str, text: &str) -> Result<u64, ConfigError> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ConfigError::new(
            input,
            format!("must be decimal digits, got `{}`", shorten(text)),
        ));
    }
    text.parse::<u64>()
        .map_err(|_| ConfigError::new(input, format!("`{}` is too large", shorten(text))))
}

/// Comma-separated IDs, each decimal digits, none twice.
pub(super) fn parse_id_list(input: &'static str, text: &str) -> Result<Vec<u64>, ConfigError> {
    let mut ids = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let id = parse_id(input, part)?;
        if ids.contains(&id) {
            return Err(ConfigError::new(input, format!("lists {id} twice")));
        }
        ids.push(id);
    }
    if ids.is_empty() {
        return Err(ConfigError::new(input, "lists no place ID"));
    }
    Ok(ids)
}

/// Only https anywhere; plain http only to this machine (tests, the emulator), so a typo can
/// never send the key in clear text across a network.
pub(super) fn parse_base_url(text: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(text).map_err(|e| {
        ConfigError::new("base-url", format!("`{}` is not a URL: {e}", shorten(text)))
    })?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ConfigError::new(
            "base-url",
            "must not carry credentials; the API key is its own input",
        ));
    }
    match url.scheme() {
        "https" => {}
        "http" if crate::api::url::is_loopback(&url) => {}
        "http" => {
            return Err(ConfigError::new(
                "base-url",
                format!(
                    "plain http is allowed only to loopback hosts (the emulator, tests); use https for `{}`",
                    url.host_str().unwrap_or_default()
                ),
            ));
        }
        other => {
            return Err(ConfigError::new(
                "base-url",
                format!("scheme `{other}` is not supported: use https"),
            ));
        }
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ConfigError::new(
            "base-url",
            "must not have a query or fragment",
        ));
    }
    Ok(url)
}
