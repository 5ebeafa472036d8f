//! `min` and `max` of floating-point values in SQL's total order in every group (a correction, always on).
//!
//! DataFusion's `min`/`max` keep one running value a group for floats (`PrimitiveGroupsAccumulator`), replaced
//! whenever the new value is not ordered below (above) it by `partial_cmp`, which does not order NaN: the answer
//! of a group holding NaN and numbers depended on which came last (`max` of 1.5 then NaN was NaN, of NaN then 1.5
//! was 1.5), so copies of one table answered differently. And a group's running value starts at the type's
//! lowest finite value, so `max` of a group of `-Infinity` alone was -1.7976931348623157e308 (`min` of
//! `Infinity` alone the highest). Found by the differential tester's NaN and infinities. DataFusion's own
//! `Accumulator` for them (one a group, what a query without GROUP BY uses) orders values totally, as its
//! comparisons do: NaN above every number, a NaN with its sign bit below every number.
//!
//! [`TotalOrder`] is DataFusion's function (the same name, signature, plans, sliding windows), registered in its
//! place, that answers `false` to "groups accumulator?" for floats: DataFusion then keeps one `Accumulator` a
//! group. Nor is a float's `min`/`max` taken from file statistics, whose min/max leave NaN out.

use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::AggregateOrderSensitivity;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Documentation, GroupsAccumulator, ReversedUDAF,
    SetMonotonicity, Signature, StatisticsArgs,
};
use std::sync::Arc;

/// DataFusion's `min` or `max` with float groups kept in total order; see the module.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct TotalOrder {
    inner: Arc<AggregateUDF>,
}

impl TotalOrder {
    /// `inner` (DataFusion's `min_udaf()` or `max_udaf()`), corrected.
    pub fn udaf(inner: Arc<AggregateUDF>) -> AggregateUDF {
        AggregateUDF::new_from_impl(TotalOrder { inner })
    }

    fn of(&self) -> &dyn AggregateUDFImpl {
        self.inner.inner().as_ref()
    }
}

fn is_float(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::Float16 | DataType::Float32 | DataType::Float64
    )
}

impl AggregateUDFImpl for TotalOrder {
    fn name(&self) -> &str {
        self.of().name()
    }

    fn aliases(&self) -> &[String] {
        self.of().aliases()
    }

    fn signature(&self) -> &Signature {
        self.of().signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.of().return_type(arg_types)
    }

    fn return_field(&self, arg_fields: &[FieldRef]) -> Result<FieldRef> {
        self.of().return_field(arg_fields)
    }

    fn is_nullable(&self) -> bool {
        self.of().is_nullable()
    }

    fn accumulator(&self, acc_args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        self.of().accumulator(acc_args)
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        self.of().state_fields(args)
    }

    fn groups_accumulator_supported(&self, args: AccumulatorArgs) -> bool {
        !is_float(args.return_field.data_type()) && self.of().groups_accumulator_supported(args)
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        self.of().create_groups_accumulator(args)
    }

    fn create_sliding_accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        self.of().create_sliding_accumulator(args)
    }

    fn order_sensitivity(&self) -> AggregateOrderSensitivity {
        self.of().order_sensitivity()
    }

    fn reverse_expr(&self) -> ReversedUDAF {
        match self.of().reverse_expr() {
            // min and max read backwards are themselves: this one, not DataFusion's.
            ReversedUDAF::Identical => ReversedUDAF::Identical,
            other => other,
        }
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.of().coerce_types(arg_types)
    }

    fn is_descending(&self) -> Option<bool> {
        self.of().is_descending()
    }

    fn value_from_stats(&self, statistics_args: &StatisticsArgs) -> Option<ScalarValue> {
        if is_float(statistics_args.return_type) {
            return None;
        }
        self.of().value_from_stats(statistics_args)
    }

    fn default_value(&self, data_type: &DataType) -> Result<ScalarValue> {
        self.of().default_value(data_type)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.of().documentation()
    }

    fn set_monotonicity(&self, data_type: &DataType) -> SetMonotonicity {
        self.of().set_monotonicity(data_type)
    }
}
