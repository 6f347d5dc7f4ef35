//! Daily call metrics (issue #12, docs/metrics.md): the days touched by call writes recomputed, the org's time zone, the rows read back.
//!
//! A database trigger leaves a touch for every write of an ended call (in-app,
//! Twilio or synced, whichever node wrote it). [`Dashboard::catch_up`] turns
//! touches into local days in the org's zone and recomputes each day from
//! the calls themselves (`call_metrics::tally`): a late or re-synced record
//! fixes its day, and nothing counts twice. The worker catches up every
//! `WORKER_INTERVAL`; a read catches its org up first, so it is never stale.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use jiff::tz::TimeZone;
use tokio_util::sync::CancellationToken;

use crate::call_metrics::day::{self, DEFAULT_TIME_ZONE};
use crate::call_metrics::tally::tally;
use crate::clock::now_ms;
use crate::error::{Error, ErrorCode, Result};
use crate::store::{DailyRow, Store};

/// How often the worker recomputes touched days.
pub const WORKER_INTERVAL: Duration = Duration::from_secs(2);
/// Touches taken per round.
pub const TOUCH_BATCH: i64 = 1_000;
/// Rounds one catch-up runs at most (the rest waits for the next).
pub const MAX_ROUNDS: usize = 50;
/// Most days one read spans.
pub const MAX_DAYS: usize = 366;

/// The daily-metrics service.
pub struct Dashboard {
    store: Store,
}

fn bad(e: day::DayError) -> Error {
    Error::new(ErrorCode::InvalidRequest, e.to_string())
}

impl Dashboard {
    pub fn new(store: Store) -> Arc<Self> {
        Arc::new(Self { store })
    }

    /// The org's time zone (its name and the zone); UTC until it sets one.
    pub async fn zone_of(&self, org_id: &str) -> Result<(String, TimeZone)> {
        let name = self
            .store
            .org_time_zone(org_id)
            .await?
            .unwrap_or_else(|| DEFAULT_TIME_ZONE.to_owned());
        // A stored zone the bundled database no longer knows falls back to UTC.
        match day::zone(&name) {
            Ok(tz) => Ok((name, tz)),
            Err(_) => Ok((DEFAULT_TIME_ZONE.to_owned(), TimeZone::UTC)),
        }
    }

    /// Sets the org's time zone (an IANA name); every day of the org is recomputed in it.
    pub async fn set_zone(&self, org_id: &str, name: &str) -> Result<String> {
        let tz = day::zone(name).map_err(bad)?;
        let canonical = tz.iana_name().unwrap_or(name).to_owned();
        self.store.set_org_time_zone(org_id, &canonical, now_ms()).await?;
        Ok(canonical)
    }

    /// Recomputes the days of every pending touch (of `org_id`, or of all orgs); returns how many days.
    pub async fn catch_up(&self, org_id: Option<&str>) -> Result<usize> {
        let mut recomputed = 0;
        for _ in 0..MAX_ROUNDS {
            let touches = self.store.metric_touches(org_id, TOUCH_BATCH).await?;
            let Some(max_id) = touches.iter().map(|t| t.id).max() else {
                break;
            };
            let mut by_org: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
            for t in &touches {
                by_org.entry(t.org_id.as_str()).or_default().push(t.started_at);
            }
            for (org, starts) in by_org {
                let (_, tz) = self.zone_of(org).await?;
                let days: BTreeSet<String> = starts.iter().filter_map(|s| day::day_of(*s, &tz).ok()).collect();
                for d in days {
                    self.recompute_day(org, &d, &tz).await?;
                    recomputed += 1;
                }
            }
            self.store.drop_touches(max_id, org_id).await?;
            if (touches.len() as i64) < TOUCH_BATCH {
                break;
            }
        }
        Ok(recomputed)
    }

    /// Recomputes one local day of the org from its calls.
    pub async fn recompute_day(&self, org_id: &str, day_text: &str, tz: &TimeZone) -> Result<()> {
        let date = day::parse_day(day_text).map_err(bad)?;
        let (from, to) = day::bounds(date, tz).map_err(bad)?;
        // The stamp is taken before the read: a later stamp always saw a later state.
        let stamp = now_ms();
        let calls = self.store.ended_calls_between(org_id, from, to).await?;
        for t in tally(&calls) {
            let row = DailyRow {
                day: day_text.to_owned(),
                user_id: t.user_id,
                total: t.total,
                inbound: t.inbound,
                outbound: t.outbound,
                answered: t.answered,
                missed: t.missed,
                talk_seconds: t.talk_seconds,
            };
            self.store.upsert_daily(org_id, &row, stamp).await?;
        }
        self.store.drop_stale_daily(org_id, day_text, stamp).await
    }

    /// The org's rows for days `from..=to` (`None`: the last 30 days to today, in the org's zone), caught up first.
    pub async fn daily(
        &self,
        org_id: &str,
        from: Option<&str>,
        to: Option<&str>,
        user: Option<&str>,
    ) -> Result<DailyView> {
        self.catch_up(Some(org_id)).await?;
        let (zone, tz) = self.zone_of(org_id).await?;
        let today = day::parse_day(&day::day_of(now_ms(), &tz).map_err(bad)?).map_err(bad)?;
        let to = match to {
            Some(t) => day::parse_day(t).map_err(bad)?,
            None => today,
        };
        let from = match from {
            Some(f) => day::parse_day(f).map_err(bad)?,
            None => to
                .checked_sub(jiff::Span::new().days(29))
                .map_err(|_| bad(day::DayError::OutOfRange))?,
        };
        if from > to {
            return Err(Error::new(ErrorCode::InvalidRequest, "`from` is after `to`"));
        }
        if day::days(from, to).len() > MAX_DAYS {
            return Err(Error::new(
                ErrorCode::InvalidRequest,
                format!("at most {MAX_DAYS} days at a time"),
            ));
        }
        let rows = self
            .store
            .daily_rows(org_id, &from.to_string(), &to.to_string(), user)
            .await?;
        Ok(DailyView {
            zone,
            from: from.to_string(),
            to: to.to_string(),
            today: today.to_string(),
            rows,
        })
    }

    /// Catches every org up every `WORKER_INTERVAL` until `shutdown`.
    pub async fn run_worker(self: Arc<Self>, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(WORKER_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            if let Err(e) = self.catch_up(None).await {
                e.log_if_internal();
            }
        }
    }
}

/// What a read returns.
pub struct DailyView {
    pub zone: String,
    pub from: String,
    pub to: String,
    /// Today in the org's zone.
    pub today: String,
    pub rows: Vec<DailyRow>,
}
