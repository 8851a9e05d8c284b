//! The `redis` backend: many instances share one Redis. Each check-and-update is one Lua
//! script (`admit.lua`, `settle.lua`), which Redis runs atomically, on Redis's own clock.
//!
//! One multiplexed connection per process (`ConnectionManager`: pipelined, reconnecting on
//! its own when Redis comes back). It is created lazily on first use, inside the runtime
//! that serves requests, so a Redis that is down at start does not stop the gateway.
//! Keys are built inside the scripts, so this backend wants one Redis (or a primary with
//! replicas), not Redis Cluster.

use super::{
    Ask, Backend, Figures, Limit, Outcome, Remaining, SharedEntry, StateError, Verdict, LEASE_MS,
};
use async_trait::async_trait;
use bytes::Bytes;
use once_cell::sync::OnceCell;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Script, Value};
use std::time::Duration;

static ADMIT: once_cell::sync::Lazy<Script> =
    once_cell::sync::Lazy::new(|| Script::new(include_str!("admit.lua")));
static SETTLE: once_cell::sync::Lazy<Script> =
    once_cell::sync::Lazy::new(|| Script::new(include_str!("settle.lua")));

pub struct Redis {
    client: redis::Client,
    timeout: Duration,
    conn: OnceCell<ConnectionManager>,
}

impl Redis {
    /// `url` was validated with the configuration; this only parses it.
    pub fn new(url: &str, timeout: Duration) -> Result<Redis, StateError> {
        let client =
            redis::Client::open(url).map_err(|_| StateError::Backend("not a Redis URL".into()))?;
        Ok(Redis {
            client,
            timeout,
            conn: OnceCell::new(),
        })
    }

    fn conn(&self) -> Result<ConnectionManager, StateError> {
        self.conn
            .get_or_try_init(|| {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(self.timeout))
                    .set_response_timeout(Some(self.timeout))
                    .set_number_of_retries(1)
                    .set_max_delay(Duration::from_millis(500));
                ConnectionManager::new_lazy_with_config(self.client.clone(), config)
            })
            .cloned()
            .map_err(backend)
    }

    /// Run a script within the timeout.
    async fn run(&self, script: &Script, args: Vec<String>) -> Result<Vec<Value>, StateError> {
        let mut conn = self.conn()?;
        let mut invocation = script.prepare_invoke();
        for a in &args {
            invocation.arg(a);
        }
        tokio::time::timeout(self.timeout, invocation.invoke_async(&mut conn))
            .await
            .map_err(|_| StateError::Timeout)?
            .map_err(backend)
    }
}

fn backend(e: redis::RedisError) -> StateError {
    // The error's text names the operation and the failure, never the URL's password.
    StateError::Backend(e.to_string())
}

/// `-1` for an absent limit, as the scripts expect.
fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "-1".to_string(), |v| v.to_string())
}

fn int(v: Option<&Value>) -> Result<i64, StateError> {
    match v {
        Some(Value::Int(i)) => Ok(*i),
        other => Err(StateError::Backend(format!(
            "unexpected script reply {other:?}"
        ))),
    }
}

fn limit_left(v: i64) -> Option<u64> {
    (v >= 0).then_some(v as u64)
}

#[async_trait]
impl Backend for Redis {
    fn name(&self) -> &'static str {
        "redis"
    }

    async fn admit(&self, ask: &Ask) -> Result<Verdict, StateError> {
        let mut args = vec![
            ask.request_id.clone(),
            ask.tokens.to_string(),
            ask.cost_nanos.to_string(),
            LEASE_MS.to_string(),
            ask.scopes.len().to_string(),
        ];
        for s in &ask.scopes {
            args.extend([
                s.id.clone(),
                opt(s.requests),
                opt(s.tokens),
                s.window_ms.to_string(),
                opt(s.max_concurrent),
                opt(s.budget_nanos),
                s.period.clone(),
                opt(s.keep_s),
            ]);
        }
        let reply = self.run(&ADMIT, args).await?;
        if int(reply.first())? == 0 {
            let limit = match reply.get(2) {
                Some(Value::BulkString(b)) => std::str::from_utf8(b).ok().and_then(Limit::parse),
                Some(Value::SimpleString(s)) => Limit::parse(s),
                _ => None,
            }
            .ok_or_else(|| StateError::Backend("unexpected script reply".into()))?;
            let retry = int(reply.get(3))?;
            return Ok(Verdict::Refused {
                scope: (int(reply.get(1))? - 1).max(0) as usize,
                limit,
                retry_after_ms: limit_left(retry),
            });
        }
        let mut remaining = Vec::with_capacity(ask.scopes.len());
        for i in 0..ask.scopes.len() {
            let at = 1 + i * 3;
            let budget = int(reply.get(at + 2))?;
            remaining.push(Remaining {
                requests: limit_left(int(reply.get(at))?),
                tokens: limit_left(int(reply.get(at + 1))?),
                budget_nanos: ask.scopes[i].budget_nanos.map(|_| budget),
            });
        }
        Ok(Verdict::Admitted(remaining))
    }

    async fn settle(&self, ask: &Ask, outcome: &Outcome) -> Result<Vec<Option<i64>>, StateError> {
        let mut args = vec![
            ask.request_id.clone(),
            outcome.tokens.to_string(),
            outcome.cost_nanos.to_string(),
            outcome.input_tokens.to_string(),
            outcome.cached_input_tokens.to_string(),
            outcome.output_tokens.to_string(),
            if outcome.counted { "1" } else { "0" }.to_string(),
            ask.scopes.len().to_string(),
        ];
        for s in &ask.scopes {
            args.extend([
                s.id.clone(),
                if s.has_window() { "1" } else { "0" }.to_string(),
                if s.max_concurrent.is_some() { "1" } else { "0" }.to_string(),
                opt(s.budget_nanos),
                s.period.clone(),
                opt(s.keep_s),
            ]);
        }
        let reply = self.run(&SETTLE, args).await?;
        (0..ask.scopes.len())
            .map(|i| {
                let has = int(reply.get(i * 2))?;
                let left = int(reply.get(i * 2 + 1))?;
                Ok((has == 1).then_some(left))
            })
            .collect()
    }

    async fn figures(&self, scope_id: &str, period: &str) -> Result<Figures, StateError> {
        let mut conn = self.conn()?;
        let key = format!("tg:{scope_id}:b:{period}");
        let mut cmd = redis::cmd("HMGET");
        cmd.arg(&key)
            .arg(&["requests", "input", "cached", "output", "spent", "reserved"]);
        let values: Vec<Option<i64>> =
            tokio::time::timeout(self.timeout, cmd.query_async(&mut conn))
                .await
                .map_err(|_| StateError::Timeout)?
                .map_err(backend)?;
        let get = |i: usize| values.get(i).copied().flatten().unwrap_or(0);
        Ok(Figures {
            requests: get(0).max(0) as u64,
            input_tokens: get(1).max(0) as u64,
            cached_input_tokens: get(2).max(0) as u64,
            output_tokens: get(3).max(0) as u64,
            spent_nanos: get(4),
            reserved_nanos: get(5),
        })
    }

    async fn cache_get(&self, key: &[u8; 32]) -> Result<Option<Bytes>, StateError> {
        let mut conn = self.conn()?;
        let mut cmd = redis::cmd("GET");
        cmd.arg(cache_key(key));
        let value: Option<Vec<u8>> = tokio::time::timeout(self.timeout, cmd.query_async(&mut conn))
            .await
            .map_err(|_| StateError::Timeout)?
            .map_err(backend)?;
        Ok(value.map(Bytes::from))
    }

    async fn cache_put(&self, key: &[u8; 32], value: Bytes, ttl_s: u64) -> Result<(), StateError> {
        let mut conn = self.conn()?;
        let mut cmd = redis::cmd("SET");
        cmd.arg(cache_key(key))
            .arg(value.as_ref())
            .arg("EX")
            .arg(ttl_s);
        tokio::time::timeout(self.timeout, cmd.query_async::<()>(&mut conn))
            .await
            .map_err(|_| StateError::Timeout)?
            .map_err(backend)
    }

    /// The entry under `tg:sem:e:<id>` (expiring with it), its id in the scope's sorted set.
    async fn semantic_publish(&self, entry: &SharedEntry, ttl_s: u64) -> Result<bool, StateError> {
        let mut conn = self.conn()?;
        let scope_key = semantic_scope_key(&entry.scope);
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("SET")
            .arg(format!("tg:sem:e:{}", entry.id))
            .arg(entry.encode())
            .arg("EX")
            .arg(ttl_s)
            .ignore()
            .cmd("ZADD")
            .arg(&scope_key)
            .arg(entry.at_ms)
            .arg(&entry.id)
            .ignore()
            .cmd("EXPIRE")
            .arg(&scope_key)
            .arg(ttl_s)
            .ignore();
        tokio::time::timeout(self.timeout, pipe.query_async::<()>(&mut conn))
            .await
            .map_err(|_| StateError::Timeout)?
            .map_err(backend)?;
        Ok(true)
    }

    async fn semantic_since(
        &self,
        scope: &[u8; 32],
        since_ms: u64,
        ttl_s: u64,
    ) -> Result<Vec<SharedEntry>, StateError> {
        let mut conn = self.conn()?;
        let scope_key = semantic_scope_key(scope);
        let now_ms = crate::clock::unix_ms();
        let mut pipe = redis::pipe();
        pipe.cmd("ZREMRANGEBYSCORE")
            .arg(&scope_key)
            .arg("-inf")
            .arg(now_ms.saturating_sub(ttl_s * 1000))
            .ignore()
            .cmd("ZRANGEBYSCORE")
            .arg(&scope_key)
            .arg(format!("({since_ms}"))
            .arg("+inf")
            .arg("WITHSCORES");
        let (ids,): (Vec<(String, u64)>,) =
            tokio::time::timeout(self.timeout, pipe.query_async(&mut conn))
                .await
                .map_err(|_| StateError::Timeout)?
                .map_err(backend)?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut mget = redis::cmd("MGET");
        for (id, _) in &ids {
            mget.arg(format!("tg:sem:e:{id}"));
        }
        let values: Vec<Option<Vec<u8>>> =
            tokio::time::timeout(self.timeout, mget.query_async(&mut conn))
                .await
                .map_err(|_| StateError::Timeout)?
                .map_err(backend)?;
        Ok(ids
            .into_iter()
            .zip(values)
            .filter_map(|((id, at_ms), value)| {
                let (vector, payload) = SharedEntry::decode(&value?)?;
                Some(SharedEntry {
                    id,
                    scope: *scope,
                    at_ms,
                    vector,
                    payload,
                })
            })
            .collect())
    }
}

/// `tg:sem:<scope hex>`: the scope's entry ids scored by when they were stored.
fn semantic_scope_key(scope: &[u8; 32]) -> String {
    format!("tg:sem:{}", crate::cache::key::hex(scope))
}

fn cache_key(key: &[u8; 32]) -> String {
    format!("tg:c:{}", crate::cache::key::hex(key))
}
