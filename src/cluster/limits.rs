//! Per-caller rate limits shared by the replicas: one token bucket per caller in Redis
//! (`<key_prefix>rl:<caller>`: tokens left and when they were counted), refilled continuously at
//! `per_minute` a minute up to `per_minute`, the same bucket the single gateway keeps in memory.
//! The check and the take are one script, so concurrent calls on several replicas never both take the
//! last token.
use super::Shared;

/// KEYS[1] the bucket; ARGV: capacity, refill per millisecond, now (ms). Returns 1 when admitted.
const TAKE: &str = r"
local cap = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local b = redis.call('HMGET', KEYS[1], 't', 'a')
local tokens = tonumber(b[1])
local at = tonumber(b[2])
if tokens == nil or at == nil then
  tokens = cap
  at = now
end
if now > at then
  tokens = math.min(cap, tokens + (now - at) * rate)
  at = now
end
local ok = 0
if tokens >= 1 then
  tokens = tokens - 1
  ok = 1
end
redis.call('HSET', KEYS[1], 't', tostring(tokens), 'a', tostring(at))
redis.call('PEXPIRE', KEYS[1], 120000)
return ok
";

#[tonic::async_trait]
impl crate::identity::layer::SharedLimits for Shared {
    /// Takes one of `subject`'s `per_minute` calls: `Some(admitted)`, or `None` when Redis cannot be used
    /// (the caller falls back to its own count).
    async fn admit(&self, subject: &str, per_minute: u32) -> Option<bool> {
        if !self.shared_limits {
            return None;
        }
        let key = self.key(&format!("rl:{subject}"));
        let cap = f64::from(per_minute);
        let rate = cap / 60_000.0;
        let now_ms = crate::store::now_us() / 1000;
        static SCRIPT: std::sync::OnceLock<redis::Script> = std::sync::OnceLock::new();
        let script = SCRIPT.get_or_init(|| redis::Script::new(TAKE));
        self.run("rate_limit", |mut c| async move {
            script
                .key(key)
                .arg(cap)
                .arg(rate)
                .arg(now_ms)
                .invoke_async::<i64>(&mut c)
                .await
        })
        .await
        .map(|ok| ok == 1)
    }
}
