//! Athena's billing rules, pure: bytes scanned -> billed bytes -> dollars. No I/O, no clock.
//!
//! The invariant: the bill is a function of (bytes scanned, how the query ended, what kind of statement it was)
//! and nothing else, so it can be unit- and property-tested and reproduced by hand.

use serde::{Deserialize, Serialize};

/// How "MB" and "TB" are counted. AWS does not say; owl defaults to decimal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Units {
    /// MB = 10^6 bytes, TB = 10^12 bytes.
    Decimal,
    /// MB = 2^20 bytes (MiB), TB = 2^40 bytes (TiB).
    Binary,
}

impl Units {
    pub fn mb(self) -> u64 {
        match self {
            Units::Decimal => 1_000_000,
            Units::Binary => 1 << 20,
        }
    }
    pub fn tb(self) -> u64 {
        match self {
            Units::Decimal => 1_000_000_000_000,
            Units::Binary => 1 << 40,
        }
    }
}

/// Where a query is: Athena's states, the last three terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum QueryState {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl QueryState {
    /// Whether the query has ended.
    pub fn is_terminal(self) -> bool {
        !matches!(self, QueryState::Queued | QueryState::Running)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            QueryState::Queued => "QUEUED",
            QueryState::Running => "RUNNING",
            QueryState::Succeeded => "SUCCEEDED",
            QueryState::Failed => "FAILED",
            QueryState::Cancelled => "CANCELLED",
        }
    }
}

/// Athena's statement types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StatementType {
    /// CREATE/DROP/ALTER: free.
    Ddl,
    /// Queries that read data: billed.
    Dml,
    /// SHOW, DESCRIBE, plain EXPLAIN, SET, USE: free.
    Utility,
}

/// The price list. Defaults are Athena's: $5.00 per TB, 1 MB rounding, 10 MB minimum.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CostModel {
    pub price_per_tb_usd: f64,
    pub units: Units,
    /// The minimum billed per charged query, in MB of `units`.
    pub minimum_mb: u64,
}

impl Default for CostModel {
    fn default() -> Self {
        CostModel {
            price_per_tb_usd: 5.0,
            units: Units::Decimal,
            minimum_mb: 10,
        }
    }
}

/// What one statement costs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Bill {
    pub bytes_scanned: u64,
    pub billed_bytes: u64,
    pub cost_usd: f64,
}

impl CostModel {
    /// The bill for one statement. Rules, in order:
    /// 1. DDL and utility statements are free, whatever they read.
    /// 2. Failed queries are free.
    /// 3. A query that read nothing is billed nothing (**owl**: AWS documents the 10 MB minimum only for queries
    ///    that scan data; `SELECT 1` reads no bytes, so there is nothing to round up).
    /// 4. Otherwise (succeeded or cancelled) the bytes read are rounded **up** to the next MB, with a minimum of
    ///    `minimum_mb` MB; dollars = billed bytes / TB x price. A query still queued or running is priced the
    ///    same way on what it has read so far: what it would cost were it cancelled now.
    pub fn bill(&self, bytes_scanned: u64, state: QueryState, kind: StatementType) -> Bill {
        let charged =
            kind == StatementType::Dml && state != QueryState::Failed && bytes_scanned > 0;
        let billed_bytes = if charged {
            let mb = self.units.mb();
            let rounded = bytes_scanned.div_ceil(mb).saturating_mul(mb);
            rounded.max(self.minimum_mb.saturating_mul(mb))
        } else {
            0
        };
        Bill {
            bytes_scanned,
            billed_bytes,
            cost_usd: self.dollars(billed_bytes),
        }
    }

    /// The price of `billed_bytes` (already rounded).
    pub fn dollars(&self, billed_bytes: u64) -> f64 {
        billed_bytes as f64 / self.units.tb() as f64 * self.price_per_tb_usd
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const M: CostModel = CostModel {
        price_per_tb_usd: 5.0,
        units: Units::Decimal,
        minimum_mb: 10,
    };

    #[test]
    fn ten_mb_minimum() {
        let b = M.bill(1, QueryState::Succeeded, StatementType::Dml);
        assert_eq!(b.billed_bytes, 10_000_000);
        assert!((b.cost_usd - 0.00005).abs() < 1e-12);
    }

    #[test]
    fn rounds_up_to_the_mb() {
        let b = M.bill(12_000_001, QueryState::Succeeded, StatementType::Dml);
        assert_eq!(b.billed_bytes, 13_000_000);
        let b = M.bill(12_000_000, QueryState::Succeeded, StatementType::Dml);
        assert_eq!(b.billed_bytes, 12_000_000);
    }

    #[test]
    fn one_tb_costs_five_dollars() {
        let b = M.bill(1_000_000_000_000, QueryState::Succeeded, StatementType::Dml);
        assert_eq!(b.cost_usd, 5.0);
    }

    #[test]
    fn free_statements() {
        assert_eq!(
            M.bill(5_000_000_000, QueryState::Failed, StatementType::Dml)
                .billed_bytes,
            0
        );
        assert_eq!(
            M.bill(5_000_000_000, QueryState::Succeeded, StatementType::Ddl)
                .cost_usd,
            0.0
        );
        assert_eq!(
            M.bill(99, QueryState::Succeeded, StatementType::Utility)
                .billed_bytes,
            0
        );
        assert_eq!(
            M.bill(0, QueryState::Succeeded, StatementType::Dml)
                .billed_bytes,
            0
        );
    }

    #[test]
    fn cancelled_pays_for_what_it_read() {
        let b = M.bill(25_500_000, QueryState::Cancelled, StatementType::Dml);
        assert_eq!(b.billed_bytes, 26_000_000);
    }

    #[test]
    fn binary_units() {
        let m = CostModel {
            units: Units::Binary,
            ..M
        };
        let b = m.bill(1, QueryState::Succeeded, StatementType::Dml);
        assert_eq!(b.billed_bytes, 10 << 20);
        assert_eq!(
            m.bill(1 << 40, QueryState::Succeeded, StatementType::Dml)
                .cost_usd,
            5.0
        );
    }

    proptest! {
        #[test]
        fn billed_is_a_rounded_upper_bound(bytes in 1u64..1u64 << 50) {
            let b = M.bill(bytes, QueryState::Succeeded, StatementType::Dml);
            prop_assert!(b.billed_bytes >= bytes);
            prop_assert!(b.billed_bytes >= 10_000_000);
            prop_assert_eq!(b.billed_bytes % 1_000_000, 0);
            // Never more than one MB of rounding above the larger of (bytes, minimum).
            prop_assert!(b.billed_bytes < bytes.max(10_000_000) + 1_000_000);
        }

        #[test]
        fn cost_is_monotonic(a in 0u64..1u64 << 45, d in 0u64..1u64 << 40) {
            let x = M.bill(a, QueryState::Succeeded, StatementType::Dml);
            let y = M.bill(a + d, QueryState::Succeeded, StatementType::Dml);
            prop_assert!(y.billed_bytes >= x.billed_bytes);
            prop_assert!(y.cost_usd >= x.cost_usd);
        }
    }
}
