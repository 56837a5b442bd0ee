//! Configuration loading: one TOML file, overridden by `PYPI_SENTINEL_...` environment
//! variables, overridden by command-line flags. The result is the engine's
//! [`EngineConfig`], validated before anything starts.
//!
//! Environment overrides name a key path with double underscores:
//! `PYPI_SENTINEL_CACHE__CAPACITY_BYTES=67108864`,
//! `PYPI_SENTINEL_UPSTREAMS__PYPISTATS__BASE_URL=https://stats.example`. Values are read
//! as TOML scalars (numbers, booleans), else as strings.

use std::path::{Path, PathBuf};

use sentinel_actors::ConfigError;
use sentinel_actors::{EngineConfig, StoreConfig, Upstream};

/// A commented example configuration with every key at its default
/// (`pypi-sentinel config example`).
pub const EXAMPLE: &str = include_str!("../config.example.toml");

/// Prefix of configuration environment variables.
pub const ENV_PREFIX: &str = "PYPI_SENTINEL_";

/// Where the configuration file is looked for when `--config` is not given.
pub fn default_path() -> Option<PathBuf> {
    dirs::config_dir().map(|d| d.join("pypi-sentinel").join("config.toml"))
}

/// Overrides from command-line flags, applied last.
#[derive(Clone, Debug, Default)]
pub struct FlagOverrides {
    /// Every upstream at one origin (a mirror or the simulator).
    pub origin: Option<String>,
    /// PyPI JSON API base URL.
    pub pypi_url: Option<String>,
    /// PyPI Simple API base URL.
    pub simple_url: Option<String>,
    /// pypistats base URL.
    pub pypistats_url: Option<String>,
    /// pepy.tech base URL.
    pub pepy_url: Option<String>,
    /// Top-packages dataset URL.
    pub top_packages_url: Option<String>,
    /// A private index beside PyPI (pip's `--extra-index-url`): its Simple root.
    pub extra_index_url: Option<String>,
    /// pepy.tech API key (enables pepy).
    pub pepy_api_key: Option<crate::secret::Secret>,
    /// Directory of the store (`--data-dir`): the file is `store.sqlite3` in it.
    pub data_dir: Option<PathBuf>,
    /// No store (`--no-store`): memory only.
    pub no_store: bool,
    /// The fleet's Redis (`--redis-url`): many replicas sharing quotas and documents.
    pub redis_url: Option<crate::secret::Secret>,
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read the configuration file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML, or has an unknown key or a value of the wrong type.
    #[error("invalid configuration in {origin}: {message}")]
    Parse {
        /// The file or environment variable.
        origin: String,
        /// The parser's message (names the key and, for files, the line).
        message: String,
    },
    /// A value breaks a rule.
    #[error(transparent)]
    Invalid(#[from] ConfigError),
}

/// The effective configuration and where it came from.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// The validated engine configuration.
    pub engine: EngineConfig,
    /// The layers applied, in order (for `config check`).
    pub sources: Vec<String>,
}

/// Loads file (explicit, else the default path if it exists), then environment, then
/// flags; validates the result.
pub fn load(file: Option<&Path>, flags: &FlagOverrides) -> Result<Loaded, LoadError> {
    load_with_env(file, flags, std::env::vars())
}

/// [`load`] with an explicit environment (for tests).
pub fn load_with_env(
    file: Option<&Path>,
    flags: &FlagOverrides,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Loaded, LoadError> {
    let mut sources = vec!["built-in defaults".to_string()];
    let path = match file {
        Some(p) => Some(p.to_path_buf()),
        None => default_path().filter(|p| p.is_file()),
    };
    let mut file_table = match &path {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|source| LoadError::Read {
                path: p.clone(),
                source,
            })?;
            sources.push(format!("file {}", p.display()));
            // Checked alone first so type errors point at the user's line and key.
            toml::from_str::<EngineConfig>(&text).map_err(|e| LoadError::Parse {
                origin: p.display().to_string(),
                message: e.to_string(),
            })?;
            text.parse::<toml::Table>().map_err(|e| LoadError::Parse {
                origin: p.display().to_string(),
                message: e.to_string(),
            })?
        }
        None => toml::Table::new(),
    };
    // Layer onto the serialised defaults, so a file that sets one key of an upstream
    // keeps that upstream's other defaults (its URL, its documented rate limit).
    let mut table =
        toml::Table::try_from(EngineConfig::default()).map_err(|e| LoadError::Parse {
            origin: "built-in defaults".into(),
            message: e.to_string(),
        })?;
    merge(&mut table, std::mem::take(&mut file_table));
    let mut env: Vec<(String, String)> = env
        .into_iter()
        .filter(|(k, _)| k.starts_with(ENV_PREFIX) && k.contains("__"))
        .collect();
    env.sort();
    for (var, value) in env {
        apply_env(&mut table, &var, &value)?;
        sources.push(format!("environment {var}"));
    }
    let origin = match &path {
        Some(p) => p.display().to_string(),
        None => "the environment".to_string(),
    };
    let mut engine: EngineConfig =
        toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| LoadError::Parse {
                origin,
                message: e.message().to_string(),
            })?;
    apply_flags(&mut engine, flags, &mut sources);
    // The product keeps a store by default, in the user's cache directory; an
    // embedder's `EngineConfig::default()` has none (it chooses).
    if engine.store.enabled && engine.store.path.is_none() {
        engine.store.path = StoreConfig::default_path();
    }
    engine.validate()?;
    Ok(Loaded { engine, sources })
}

/// Deep-merges `over` into `base`: tables merge key by key (a `rate_limit` is replaced
/// whole), anything else replaces.
fn merge(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            // A rate limit is one policy: `{ per_second = 2 }` means a strict 2/s, not
            // 2/s with the default's burst left in.
            (Some(toml::Value::Table(_)), v) if k == "rate_limit" => {
                base.insert(k, v);
            }
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

fn apply_env(table: &mut toml::Table, var: &str, value: &str) -> Result<(), LoadError> {
    let path: Vec<String> = var[ENV_PREFIX.len()..]
        .split("__")
        .map(|s| s.to_ascii_lowercase())
        .collect();
    if path.iter().any(String::is_empty) {
        return Err(LoadError::Parse {
            origin: format!("environment variable {var}"),
            message: "empty key segment; use PYPI_SENTINEL_SECTION__KEY".into(),
        });
    }
    let (last, parents) = path.split_last().expect("split yields one segment");
    let mut cur = table;
    for seg in parents {
        let next = cur
            .entry(seg.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        cur = next.as_table_mut().ok_or_else(|| LoadError::Parse {
            origin: format!("environment variable {var}"),
            message: format!("{seg} is not a section"),
        })?;
    }
    // Strings stay strings: a secret (`api_key`, `token`, `password`...) or a key whose
    // default is a string is never read as a number or a boolean (a numeric API key
    // would otherwise be refused, and the refusal would print it). Anything else is a
    // TOML scalar when it parses as one (42, 0.5, true), else the raw string.
    let is_string_key = STRING_KEYS.contains(&last.as_str())
        || matches!(cur.get(last), Some(toml::Value::String(_)));
    let parsed = if last == "allowed_dirs" {
        // A path list, as PATH is written (`:` between directories; `;` on Windows).
        toml::Value::Array(
            std::env::split_paths(value)
                .filter(|p| !p.as_os_str().is_empty())
                .map(|p| toml::Value::String(p.display().to_string()))
                .collect(),
        )
    } else if last == "allowed_hosts" {
        toml::Value::Array(
            value
                .split(',')
                .map(str::trim)
                .filter(|h| !h.is_empty())
                .map(|h| toml::Value::String(h.to_string()))
                .collect(),
        )
    } else if is_string_key {
        toml::Value::String(value.to_string())
    } else {
        format!("v = {value}")
            .parse::<toml::Table>()
            .ok()
            .and_then(|mut t| t.remove("v"))
            .filter(|v| !v.is_table() && !v.is_array())
            .unwrap_or_else(|| toml::Value::String(value.to_string()))
    };
    cur.insert(last.clone(), parsed);
    Ok(())
}

/// Keys whose values are strings whatever they look like; the first six hold secrets.
const STRING_KEYS: [&str; 9] = [
    "api_key",
    "password",
    "token",
    "username",
    "redis_url",
    "signing_key",
    "base_url",
    "user_agent",
    "type",
];

fn apply_flags(cfg: &mut EngineConfig, flags: &FlagOverrides, sources: &mut Vec<String>) {
    if let Some(origin) = &flags.origin {
        *cfg = std::mem::take(cfg).with_origin(origin);
        sources.push(format!("--origin {origin}"));
    }
    let per_upstream = [
        (Upstream::PypiJson, &flags.pypi_url, "--pypi-url"),
        (Upstream::PypiSimple, &flags.simple_url, "--simple-url"),
        (Upstream::Pypistats, &flags.pypistats_url, "--pypistats-url"),
        (Upstream::Pepy, &flags.pepy_url, "--pepy-url"),
        (
            Upstream::TopPackages,
            &flags.top_packages_url,
            "--top-packages-url",
        ),
        (
            Upstream::ExtraIndex,
            &flags.extra_index_url,
            "--extra-index-url",
        ),
    ];
    for (up, url, flag) in per_upstream {
        if let Some(url) = url {
            cfg.upstreams.get_mut(up).base_url = url.clone();
            sources.push(format!("{flag} {url}"));
        }
    }
    if let Some(dir) = &flags.data_dir {
        cfg.store.path = Some(dir.join(StoreConfig::FILE_NAME));
        sources.push(format!("--data-dir {}", dir.display()));
    }
    if let Some(url) = &flags.redis_url {
        cfg.fleet.redis_url = Some(url.expose().to_string());
        sources.push(format!(
            "--redis-url {}",
            sentinel_actors::redact_redis_url(url.expose())
        ));
    }
    if flags.no_store {
        cfg.store.enabled = false;
        sources.push("--no-store".into());
    }
    if let Some(key) = &flags.pepy_api_key {
        cfg.upstreams.pepy.api_key = Some(key.expose().to_string());
        cfg.upstreams.pepy.enabled = true;
        sources.push("--pepy-api-key (hidden)".into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env() -> Vec<(String, String)> {
        Vec::new()
    }

    fn write(text: &str) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), text).unwrap();
        f
    }

    #[test]
    fn the_example_is_the_defaults() {
        let f = write(EXAMPLE);
        let mut loaded =
            load_with_env(Some(f.path()), &FlagOverrides::default(), no_env()).unwrap();
        // The one default the product adds: the store's file in the user's cache dir.
        assert_eq!(loaded.engine.store.path, StoreConfig::default_path());
        loaded.engine.store.path = None;
        let defaults = toml::to_string(&EngineConfig::default()).unwrap();
        assert_eq!(toml::to_string(&loaded.engine).unwrap(), defaults);
    }

    #[test]
    fn the_fleet_is_set_by_env_or_flag_and_its_password_never_shows() {
        let f = write("");
        let env = vec![(
            "PYPI_SENTINEL_FLEET__REDIS_URL".to_string(),
            "redis://:envpw@127.0.0.1:6379/0".to_string(),
        )];
        let loaded = load_with_env(Some(f.path()), &FlagOverrides::default(), env).unwrap();
        assert_eq!(
            loaded.engine.fleet.redis_url.as_deref(),
            Some("redis://:envpw@127.0.0.1:6379/0")
        );
        let flags = FlagOverrides {
            redis_url: Some(crate::secret::Secret::new(
                "rediss://:flagpw@redis.internal:6380",
            )),
            ..Default::default()
        };
        let loaded = load_with_env(Some(f.path()), &flags, no_env()).unwrap();
        assert!(loaded.engine.fleet.enabled());
        let sources = loaded.sources.join(" ");
        assert!(
            sources.contains("--redis-url") && !sources.contains("flagpw"),
            "{sources}"
        );
        assert!(!format!("{:?}", loaded.engine).contains("flagpw"));
        // Plaintext to a host that is not loopback is refused, naming the key.
        let flags = FlagOverrides {
            redis_url: Some(crate::secret::Secret::new(
                "redis://:pw2@redis.internal:6379",
            )),
            ..Default::default()
        };
        let err = load_with_env(Some(f.path()), &flags, no_env()).unwrap_err();
        let shown = err.to_string();
        assert!(
            shown.contains("fleet.redis_url") && !shown.contains("pw2"),
            "{shown}"
        );
    }

    #[test]
    fn a_rate_limit_in_the_file_replaces_the_default_whole() {
        // The Simple API's default has a burst; a file that writes `{ per_second = 2 }`
        // means a strict 2/s, and one key set by the environment still merges.
        let f = write("[upstreams.pypi_simple]\nrate_limit = { per_second = 2 }\n");
        let loaded = load_with_env(Some(f.path()), &FlagOverrides::default(), no_env()).unwrap();
        let rl = loaded.engine.upstreams.pypi_simple.rate_limit.unwrap();
        assert_eq!((rl.per_second, rl.per_minute, rl.burst), (2, None, None));
        let env = vec![(
            "PYPI_SENTINEL_UPSTREAMS__PYPI_SIMPLE__RATE_LIMIT__PER_SECOND".to_string(),
            "7".to_string(),
        )];
        let loaded = load_with_env(None, &FlagOverrides::default(), env).unwrap();
        let rl = loaded.engine.upstreams.pypi_simple.rate_limit.unwrap();
        assert_eq!((rl.per_second, rl.burst), (7, Some(200)));
    }

    #[test]
    fn download_keys_from_the_file_and_the_environment() {
        let f = write("[download]\nallowed_dirs = [\"/srv/wheels\"]\nmax_bytes = 1048576\n");
        let loaded = load_with_env(Some(f.path()), &FlagOverrides::default(), no_env()).unwrap();
        assert_eq!(
            loaded.engine.download.allowed_dirs,
            vec![PathBuf::from("/srv/wheels")]
        );
        assert_eq!(loaded.engine.download.max_bytes, 1_048_576);
        let env = vec![(
            "PYPI_SENTINEL_DOWNLOAD__ALLOWED_HOSTS".to_string(),
            "files.pythonhosted.org, mirror.example:8443".to_string(),
        )];
        let loaded = load_with_env(None, &FlagOverrides::default(), env).unwrap();
        assert_eq!(
            loaded.engine.download.allowed_hosts,
            ["files.pythonhosted.org", "mirror.example:8443"]
        );
        assert!(EngineConfig::default().download.allowed_dirs.is_empty());
    }

    #[test]
    fn scan_allowed_dirs_from_the_file_and_from_a_path_list_in_the_environment() {
        let f = write("[scan]\nallowed_dirs = [\"/srv/projects\"]\n");
        let loaded = load_with_env(Some(f.path()), &FlagOverrides::default(), no_env()).unwrap();
        assert_eq!(
            loaded.engine.scan.allowed_dirs,
            [PathBuf::from("/srv/projects")]
        );
        let env = vec![(
            "PYPI_SENTINEL_SCAN__ALLOWED_DIRS".to_string(),
            "/a:/b".to_string(),
        )];
        let loaded = load_with_env(None, &FlagOverrides::default(), env).unwrap();
        assert_eq!(
            loaded.engine.scan.allowed_dirs,
            [PathBuf::from("/a"), PathBuf::from("/b")]
        );
        assert!(
            EngineConfig::default().scan.allowed_dirs.is_empty(),
            "none by default"
        );
    }

    #[test]
    fn env_overrides_file_and_flags_override_env() {
        let f = write(
            "[cache]\ncapacity_bytes = 1000000\n[upstreams.pypistats]\nbase_url = \"https://file.example\"\n",
        );
        let env = vec![
            (
                "PYPI_SENTINEL_CACHE__CAPACITY_BYTES".to_string(),
                "2000000".to_string(),
            ),
            (
                "PYPI_SENTINEL_UPSTREAMS__PYPISTATS__BASE_URL".to_string(),
                "https://env.example".to_string(),
            ),
            (
                "PYPI_SENTINEL_ORIGIN".to_string(),
                "ignored: a flag's variable, not a key path".to_string(),
            ),
        ];
        let flags = FlagOverrides {
            pypistats_url: Some("https://flag.example".into()),
            ..Default::default()
        };
        let loaded = load_with_env(Some(f.path()), &flags, env).unwrap();
        assert_eq!(loaded.engine.cache.capacity_bytes, 2_000_000);
        assert_eq!(
            loaded.engine.upstreams.pypistats.base_url,
            "https://flag.example"
        );
    }

    #[test]
    fn the_vulnerability_source_and_the_osv_upstream_are_file_settings() {
        let f = write(
            "[vulnerabilities]\nsource = \"both\"\n[upstreams.osv]\nbase_url = \"https://osv.example\"\n",
        );
        let loaded = load_with_env(Some(f.path()), &FlagOverrides::default(), vec![]).unwrap();
        assert_eq!(
            loaded.engine.vulnerabilities.source,
            sentinel_actors::VulnSource::Both
        );
        assert_eq!(loaded.engine.upstreams.osv.base_url, "https://osv.example");
        let f = write("[vulnerabilities]\nsource = \"nvd\"\n");
        let err = load_with_env(Some(f.path()), &FlagOverrides::default(), vec![])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("pypi") && err.contains("osv") && err.contains("both"),
            "{err}"
        );
    }

    #[test]
    fn errors_name_the_key_value_and_rule() {
        let f = write("[upstreams.pypistats.breaker]\nfailure_rate_threshold = 1.5\n");
        let err = load_with_env(Some(f.path()), &FlagOverrides::default(), no_env()).unwrap_err();
        let LoadError::Invalid(e) = err else {
            panic!("{err}")
        };
        assert_eq!(e.key, "upstreams.pypistats.breaker.failure_rate_threshold");
        assert_eq!(e.value, "1.5");

        let f = write("[upstreams.pypi_json]\nbase_url = \"ftp://mirror.example\"\n");
        let err = load_with_env(Some(f.path()), &FlagOverrides::default(), no_env()).unwrap_err();
        assert!(
            err.to_string().contains("upstreams.pypi_json.base_url"),
            "{err}"
        );

        let f = write("[cache]\ncapacity_bytez = 1\n");
        let err = load_with_env(Some(f.path()), &FlagOverrides::default(), no_env()).unwrap_err();
        assert!(err.to_string().contains("capacity_bytez"), "{err}");

        let f = write("[cache]\nproject_json_ttl_ms = -5\n");
        let err = load_with_env(Some(f.path()), &FlagOverrides::default(), no_env()).unwrap_err();
        assert!(matches!(err, LoadError::Parse { .. }), "{err}");
        assert!(
            err.to_string().contains("project_json_ttl_ms"),
            "a negative TTL names its key: {err}"
        );

        let err = load_with_env(
            Some(Path::new("/nonexistent/sentinel.toml")),
            &FlagOverrides::default(),
            no_env(),
        )
        .unwrap_err();
        assert!(matches!(err, LoadError::Read { .. }));
    }

    #[test]
    fn a_partial_upstream_table_keeps_that_upstreams_defaults() {
        let f = write("[upstreams.pypistats.breaker]\nmin_calls = 20\n");
        let loaded = load_with_env(Some(f.path()), &FlagOverrides::default(), no_env()).unwrap();
        let p = &loaded.engine.upstreams.pypistats;
        assert_eq!(p.breaker.min_calls, 20);
        assert_eq!(p.base_url, "https://pypistats.org");
        assert_eq!(
            p.rate_limit.as_ref().map(|r| (r.per_second, r.per_minute)),
            Some((5, Some(30)))
        );
    }

    #[test]
    fn origin_flag_points_every_upstream_at_one_place() {
        let flags = FlagOverrides {
            origin: Some("http://127.0.0.1:9/".into()),
            ..Default::default()
        };
        let loaded = load_with_env(None, &flags, no_env()).unwrap();
        assert_eq!(
            loaded.engine.upstreams.pypi_json.base_url,
            "http://127.0.0.1:9"
        );
        assert_eq!(
            loaded.engine.upstreams.top_packages.base_url,
            "http://127.0.0.1:9/top-pypi-packages.min.json"
        );
    }
}
