//! The checks a definition passes when it is loaded: every request, template and variable it
//! names makes sense, and its URLs use a transport dsr allows.

use super::*;

/// Whether a URL may be used: TLS, or plain HTTP to a loopback host, or `insecure_http`.
pub fn transport_allowed(url: &str, insecure_http: bool) -> Result<(), String> {
    let parsed = url::Url::parse(url).map_err(|_| format!("'{url}' is not a valid URL"))?;
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if insecure_http => Ok(()),
        "http" => {
            let loopback = match parsed.host() {
                Some(url::Host::Domain(d)) => d == "localhost",
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                None => false,
            };
            if loopback {
                Ok(())
            } else {
                Err(format!(
                    "plain http to {} is not allowed; use https (or `insecure_http: true` in the definition)",
                    parsed.host_str().unwrap_or("?")
                ))
            }
        }
        other => Err(format!("unsupported URL scheme '{other}'")),
    }
}

/// The template variable namespaces each call may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    Find,
    ById,
    Poll,
}

/// Where a template variable is allowed; `Err` says why not.
pub fn check_variable(def: &Definition, kind: CallKind, var: &str) -> Result<(), String> {
    let (ns, name) = match var.split_once('.') {
        Some((ns, name)) => (ns, Some(name)),
        None => (var, None),
    };
    match (ns, name, kind) {
        ("config", Some(n), _) if def.config.contains_key(n) => Ok(()),
        ("config", Some(n), _) => {
            let names: Vec<&str> = def.config.keys().map(String::as_str).collect();
            Err(match did_you_mean(n, names.iter().copied()) {
                Some(s) => {
                    format!("unknown template variable '{var}' (did you mean 'config.{s}'?)")
                }
                None => format!("unknown template variable '{var}': declare '{n}' under `config:`"),
            })
        }
        ("base_url", None, _) => Ok(()),
        ("value", None, CallKind::Find) => Ok(()),
        ("identity" | "match", Some(_), CallKind::Find) => Ok(()),
        ("id", None, CallKind::ById | CallKind::Poll) => Ok(()),
        ("job_id", None, CallKind::Poll) => Ok(()),
        _ => Err(format!(
            "unknown template variable '{var}' (here: {})",
            match kind {
                CallKind::Find => "value, match.COLUMN, identity.KIND, config.NAME",
                CallKind::ById => "id, config.NAME",
                CallKind::Poll => "id, job_id, config.NAME",
            }
        )),
    }
}

pub(super) fn check(def: &Definition, push: &mut dyn FnMut(&[&str], String)) {
    if def.resources.is_empty() {
        push(&["resources"], "no resources declared".into());
    }
    // The base URL is checked with placeholders replaced by a harmless host part.
    match template::variables(&def.base_url) {
        Err(e) => push(&["base_url"], e.to_string()),
        Ok(vars) => {
            let mut sample = template::Vars::new();
            for v in &vars {
                if let Err(e) = check_variable(def, CallKind::Poll, v).and_then(|()| {
                    if v.starts_with("config.") {
                        Ok(())
                    } else {
                        Err(format!("the base URL may only use config.NAME, not '{v}'"))
                    }
                }) {
                    push(&["base_url"], e);
                }
                sample.set(v.clone(), "example");
            }
            if let Ok(url) = template::render(&def.base_url, &sample, template::Encoding::Raw)
                && let Err(e) = transport_allowed(&url, def.insecure_http)
            {
                push(&["base_url"], e);
            }
        }
    }
    if let Some(rl) = &def.rate_limit
        && !(rl.per_second > 0.0 && rl.per_second.is_finite() && rl.burst >= 1)
    {
        push(
            &["rate_limit"],
            "rate_limit needs per_second > 0 and burst >= 1".into(),
        );
    }
    if def.max_pages == Some(0) {
        push(&["max_pages"], "max_pages must be at least 1".into());
    }
    if let AuthDef::ApiKey { header, query, .. } = &def.auth
        && header.is_some() == query.is_some()
    {
        push(
            &["auth"],
            "an api_key auth needs exactly one of `header` or `query`".into(),
        );
    }
    for (name, h) in &def.headers {
        check_template(def, CallKind::Poll, &["headers", name], h, push);
    }
    for (rname, res) in &def.resources {
        let base = ["resources", rname.as_str()];
        if res.find.is_none() && !res.key_from_match {
            push(
                &base,
                "a resource needs `find`, or `key_from_match: true`".into(),
            );
        }
        let mut calls: Vec<(String, CallKind, &RequestDef)> = Vec::new();
        if let Some(f) = &res.find {
            calls.push(("find".into(), CallKind::Find, f));
            if f.job.is_some() {
                push(
                    &[base[0], base[1], "find", "job"],
                    "`job` applies to erase calls only".into(),
                );
            }
        }
        if let Some(g) = &res.get {
            calls.push(("get".into(), CallKind::ById, g));
        }
        if let Some(u) = &res.update {
            calls.push(("update".into(), CallKind::ById, u));
        }
        if let Some(e) = &res.erase {
            match e {
                OneOrMany::One(r) => calls.push(("erase".into(), CallKind::ById, r)),
                OneOrMany::Many(v) => {
                    for (i, r) in v.iter().enumerate() {
                        calls.push((format!("erase.{i}"), CallKind::ById, r));
                    }
                }
            }
        }
        for (label, kind, req) in calls {
            let mut p: Vec<&str> = base.to_vec();
            p.extend(label.split('.'));
            check_request(def, kind, &p, req, push);
            if let Some(job) = &req.job {
                let mut jp = p.clone();
                jp.extend(["job", "poll"]);
                check_request(def, CallKind::Poll, &jp, &job.poll, push);
                for (key, d) in [("interval", &job.interval), ("timeout", &job.timeout)] {
                    if let Some(d) = d
                        && crate::playbook::check::parse_duration(d).is_none()
                    {
                        let mut dp = p.clone();
                        dp.extend(["job", key]);
                        push(&dp, format!("'{d}' is not a duration (e.g. 2s, 500ms, 5m)"));
                    }
                }
                if job.done.is_empty() {
                    let mut dp = p.clone();
                    dp.extend(["job", "done"]);
                    push(&dp, "list the statuses that mean the job is done".into());
                }
            }
        }
    }
}

pub(super) fn check_request(
    def: &Definition,
    kind: CallKind,
    path: &[&str],
    req: &RequestDef,
    push: &mut dyn FnMut(&[&str], String),
) {
    let at = |extra: &[&str]| -> Vec<String> {
        path.iter()
            .map(|s| s.to_string())
            .chain(extra.iter().map(|s| s.to_string()))
            .collect()
    };
    let mut templates: Vec<(Vec<String>, String)> = vec![(at(&["path"]), req.path.clone())];
    for (k, v) in &req.query {
        templates.push((at(&["query", k]), v.clone()));
    }
    for (k, v) in &req.headers {
        templates.push((at(&["headers", k]), v.clone()));
    }
    for (k, v) in &req.form {
        templates.push((at(&["form", k]), v.clone()));
    }
    if let Some(body) = &req.body {
        let mut strings = Vec::new();
        collect_strings(body, &mut strings);
        for s in strings {
            templates.push((at(&["body"]), s));
        }
    }
    for (p, t) in &templates {
        let refs: Vec<&str> = p.iter().map(String::as_str).collect();
        check_template(def, kind, &refs, t, push);
    }
    if !req.path.starts_with('/') {
        let p = at(&["path"]);
        let refs: Vec<&str> = p.iter().map(String::as_str).collect();
        push(&refs, format!("path '{}' must start with '/'", req.path));
    }
    if req.body.is_some() && !req.form.is_empty() {
        let p = at(&["form"]);
        let refs: Vec<&str> = p.iter().map(String::as_str).collect();
        push(&refs, "a call has either `body` or `form`, not both".into());
    }
    if kind == CallKind::Find && req.paginate.is_some() && req.records.is_none() {
        let p = at(&["paginate"]);
        let refs: Vec<&str> = p.iter().map(String::as_str).collect();
        push(&refs, "pagination needs `records:` to count a page".into());
    }
    if let Some(Paginate::Page { size: 0, .. } | Paginate::Offset { size: 0, .. }) = &req.paginate {
        let p = at(&["paginate"]);
        let refs: Vec<&str> = p.iter().map(String::as_str).collect();
        push(&refs, "page size must be at least 1".into());
    }
}

pub(super) fn check_template(
    def: &Definition,
    kind: CallKind,
    path: &[&str],
    t: &str,
    push: &mut dyn FnMut(&[&str], String),
) {
    match template::variables(t) {
        Err(e) => push(path, e.to_string()),
        Ok(vars) => {
            for v in vars {
                if let Err(e) = check_variable(def, kind, &v) {
                    push(path, e);
                }
            }
        }
    }
}

/// Every string inside a JSON value (body templates).
pub fn collect_strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| collect_strings(x, out)),
        Value::Object(m) => m.values().for_each(|x| collect_strings(x, out)),
        _ => {}
    }
}

/// Template variables a find call uses (for playbook checks of `identity.*`/`match.*`).
pub fn find_variables(res: &Resource) -> Vec<String> {
    let Some(req) = &res.find else {
        return Vec::new();
    };
    let mut strings = vec![req.path.clone()];
    strings.extend(req.query.values().cloned());
    strings.extend(req.headers.values().cloned());
    strings.extend(req.form.values().cloned());
    if let Some(b) = &req.body {
        collect_strings(b, &mut strings);
    }
    strings
        .iter()
        .filter_map(|s| template::variables(s).ok())
        .flatten()
        .collect()
}
