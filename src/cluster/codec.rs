//! How owl's plans travel between the client, the scheduler and the executors.
//!
//! Ballista sends the client's optimised logical plan to the scheduler, which plans it physically and sends
//! each task's physical plan to an executor. DataFusion's protobuf codecs carry its own nodes; these two
//! extension codecs carry owl's, in an envelope of one leading byte:
//!
//! 1. `0`: what follows is Ballista's own encoding (its shuffle and cache nodes, the file formats it knows).
//! 2. `1`: a registry table, as its whole definition (`TableDef` in JSON, the registry's own file format): the
//!    scheduler rebuilds the same [`RegistryTable`] over its registry folder and plans its scan as `owl query`
//!    does (partition pruning, statistics, excluded files, owl's readers).
//! 3. `2`: a scan by owl's own readers (CSV, NDJSON, RegexSerDe and Grok lines, ORC): the table's definition
//!    (its location resolved), the files' compression, and DataFusion's encoding of the scan (files, ranges,
//!    projection, limit, statistics); an executor rebuilds the same reader under the task's settings.
//!
//! 4. `3` (expressions): owl's faster forms of DataFusion's expressions (string-view comparisons, decimal
//!    arithmetic with batch checks, conjunctions evaluated in turn): their kind and settings; their children
//!    travel as DataFusion's.
//!
//! A node of owl's that has no encoding yet fails the job with one line naming it and the `owl.*` switch that
//! leaves it out of plans; nothing is dropped silently.

use crate::catalog::model::TableDef;
use crate::catalog::provider::RegistryTable;
use ballista_core::serde::{BallistaLogicalExtensionCodec, BallistaPhysicalExtensionCodec};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::common::parsers::CompressionTypeVariant;
use datafusion::common::{DataFusionError, Result, TableReference};
use datafusion::datasource::file_format::FileFormatFactory;
use datafusion::datasource::file_format::file_compression_type::FileCompressionType;
use datafusion::datasource::physical_plan::{FileScanConfig, FileScanConfigBuilder};
use datafusion::datasource::source::DataSourceExec;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{Extension, LogicalPlan};
use datafusion::physical_expr_common::physical_expr::proto_decode::PhysicalExprDecodeCtx;
use datafusion::physical_expr_common::physical_expr::proto_encode::PhysicalExprEncodeCtx;
use datafusion::physical_plan::{ExecutionPlan, PhysicalExpr};
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use datafusion_proto::physical_plan::from_proto::{
    parse_protobuf_file_scan_config, parse_table_schema_from_proto,
};
use datafusion_proto::physical_plan::to_proto::serialize_file_scan_config;
use datafusion_proto::physical_plan::{
    PhysicalExtensionCodec, PhysicalPlanDecodeContext, PhysicalProtoConverterExtension,
};
use std::path::PathBuf;
use std::sync::Arc;

const BALLISTA: u8 = 0;
const REGISTRY_TABLE: u8 = 1;
const OWL_SCAN: u8 = 2;
/// An expression of owl's (`exec::expr::travelling`): its kind, then its settings as JSON.
const OWL_EXPR: u8 = 3;

/// The logical codec of a cluster session: registry tables by definition, everything else Ballista's.
#[derive(Debug)]
pub(crate) struct OwlLogicalCodec {
    ballista: BallistaLogicalExtensionCodec,
    /// The registry folder a table's relative location resolves against (the scheduler's `--catalog`).
    registry_root: PathBuf,
}

impl OwlLogicalCodec {
    pub(crate) fn new(registry_root: PathBuf) -> Self {
        OwlLogicalCodec {
            ballista: BallistaLogicalExtensionCodec::default(),
            registry_root,
        }
    }
}

fn split(buf: &[u8]) -> Result<(u8, &[u8])> {
    buf.split_first()
        .map(|(tag, rest)| (*tag, rest))
        .ok_or_else(|| DataFusionError::Internal("an empty plan node from the cluster".into()))
}

fn unknown(tag: u8) -> DataFusionError {
    DataFusionError::Internal(format!(
        "a plan node of kind {tag} from the cluster: is every process the same `owl` version?"
    ))
}

impl LogicalExtensionCodec for OwlLogicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[LogicalPlan],
        ctx: &TaskContext,
    ) -> Result<Extension> {
        match split(buf)? {
            (BALLISTA, rest) => self.ballista.try_decode(rest, inputs, ctx),
            (tag, _) => Err(unknown(tag)),
        }
    }

    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> Result<()> {
        buf.push(BALLISTA);
        self.ballista.try_encode(node, buf).map_err(|_| {
            DataFusionError::NotImplemented(format!(
                "`{}` cannot run on a cluster yet (`owl.materialize_ctes=false` plans without it)",
                node.node.name()
            ))
        })
    }

    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        table_ref: &TableReference,
        schema: SchemaRef,
        ctx: &TaskContext,
    ) -> Result<Arc<dyn TableProvider>> {
        match split(buf)? {
            (REGISTRY_TABLE, json) => {
                let def: TableDef = serde_json::from_slice(json).map_err(|e| {
                    DataFusionError::Internal(format!("table `{table_ref}` from the cluster: {e}"))
                })?;
                let table = RegistryTable::try_new(def, self.registry_root.clone())
                    .map_err(|e| DataFusionError::Plan(e.to_string()))?;
                Ok(Arc::new(table))
            }
            (BALLISTA, rest) => self
                .ballista
                .try_decode_table_provider(rest, table_ref, schema, ctx),
            (tag, _) => Err(unknown(tag)),
        }
    }

    fn try_encode_table_provider(
        &self,
        table_ref: &TableReference,
        node: Arc<dyn TableProvider>,
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        if let Some(table) = node.downcast_ref::<RegistryTable>() {
            buf.push(REGISTRY_TABLE);
            return serde_json::to_writer(buf, table.def())
                .map_err(|e| DataFusionError::Internal(format!("table `{table_ref}`: {e}")));
        }
        buf.push(BALLISTA);
        self.ballista
            .try_encode_table_provider(table_ref, node, buf)
            .map_err(|_| {
                DataFusionError::NotImplemented(format!(
                    "`{table_ref}` cannot be read on a cluster: only the registry's tables and paths named in FROM travel to it"
                ))
            })
    }

    fn try_decode_file_format(
        &self,
        buf: &[u8],
        ctx: &TaskContext,
    ) -> Result<Arc<dyn FileFormatFactory>> {
        match split(buf)? {
            (BALLISTA, rest) => self.ballista.try_decode_file_format(rest, ctx),
            (tag, _) => Err(unknown(tag)),
        }
    }

    fn try_encode_file_format(
        &self,
        buf: &mut Vec<u8>,
        node: Arc<dyn FileFormatFactory>,
    ) -> Result<()> {
        buf.push(BALLISTA);
        self.ballista.try_encode_file_format(buf, node)
    }
}

/// The physical codec of a cluster: Ballista's, with owl's nodes named when they cannot travel.
#[derive(Debug, Default)]
pub(crate) struct OwlPhysicalCodec {
    ballista: BallistaPhysicalExtensionCodec,
}

/// What an owl node that cannot travel is, and the switch that keeps it out of plans.
fn local_only(node: &dyn ExecutionPlan) -> Option<(String, &'static str)> {
    use crate::exec::{
        collect_keys::CollectKeysExec, computed_once::ComputeSharedExec,
        computed_once::ComputedOnceExec, not_in::NotInExec, row_filter_choice::RowFilterChoiceExec,
    };
    if node.downcast_ref::<CollectKeysExec>().is_some() {
        Some(("CollectKeysExec".into(), "owl.join_key_pruning=false"))
    } else if node.downcast_ref::<NotInExec>().is_some() {
        Some(("NotInExec".into(), "owl.streamed_not_in=false"))
    } else if node.downcast_ref::<ComputedOnceExec>().is_some()
        || node.downcast_ref::<ComputeSharedExec>().is_some()
    {
        Some((node.name().into(), "owl.materialize_ctes=false"))
    } else if node.downcast_ref::<RowFilterChoiceExec>().is_some() {
        Some((
            "a scan's run-time row filter".into(),
            "owl.dynamic_row_filters=false",
        ))
    } else {
        None
    }
}

/// The table and configuration of a scan by owl's own readers, if `node` is one.
fn owl_scan(node: &dyn ExecutionPlan) -> Option<(&FileScanConfig, &Arc<str>)> {
    use crate::formats::{orc::OrcSource, text_source::TextSource};
    let config = node
        .downcast_ref::<DataSourceExec>()?
        .data_source()
        .downcast_ref::<FileScanConfig>()?;
    let source = config.file_source();
    let origin = match source.downcast_ref::<TextSource>() {
        Some(text) => text.origin(),
        None => source.downcast_ref::<OrcSource>()?.origin(),
    }?;
    Some((config, origin))
}

impl OwlPhysicalCodec {
    fn encode_scan(
        &self,
        config: &FileScanConfig,
        origin: &str,
        buf: &mut Vec<u8>,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<()> {
        use prost_flight::Message;
        let scan = serialize_file_scan_config(config, self, proto_converter)?;
        buf.push(OWL_SCAN);
        buf.extend_from_slice(&(origin.len() as u32).to_le_bytes());
        buf.extend_from_slice(origin.as_bytes());
        let compression = config.file_compression_type.get_variant().to_string();
        buf.push(compression.len() as u8);
        buf.extend_from_slice(compression.as_bytes());
        scan.encode(buf)
            .map_err(|e| DataFusionError::Internal(format!("a scan for the cluster: {e}")))
    }

    fn decode_scan(
        &self,
        buf: &[u8],
        ctx: &TaskContext,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        use prost_flight::Message;
        let bad =
            || DataFusionError::Internal("a scan from the cluster that does not decode".into());
        let (len, rest) = buf.split_first_chunk::<4>().ok_or_else(bad)?;
        let len = u32::from_le_bytes(*len) as usize;
        let (origin, rest) = (rest.get(..len).ok_or_else(bad)?, &rest[len..]);
        let (&clen, rest) = rest.split_first().ok_or_else(bad)?;
        let (compression, rest) = (
            rest.get(..clen as usize).ok_or_else(bad)?,
            &rest[clen as usize..],
        );
        let def: TableDef = serde_json::from_slice(origin).map_err(|e| {
            DataFusionError::Internal(format!("a scan's table from the cluster: {e}"))
        })?;
        let name = def.name.clone();
        // The location is already a URL (`origin`): the base is never used.
        let table = RegistryTable::try_new(def, PathBuf::from("/"))
            .map_err(|e| DataFusionError::Plan(e.to_string()))?;
        let scan = datafusion_proto::protobuf::FileScanExecConf::decode(rest).map_err(|_| bad())?;
        let table_schema = parse_table_schema_from_proto(&scan)?;
        let source = table
            .scan_source(ctx.session_config().options(), table_schema)
            .ok_or_else(|| {
                DataFusionError::Internal(format!("table `{name}` is not read by owl's readers"))
            })?;
        let decode = PhysicalPlanDecodeContext::new(ctx, self);
        let config = parse_protobuf_file_scan_config(&scan, &decode, proto_converter, source)?;
        let compression: CompressionTypeVariant = std::str::from_utf8(compression)
            .map_err(|_| bad())?
            .parse()?;
        let config = FileScanConfigBuilder::from(config)
            .with_file_compression_type(FileCompressionType::from(compression))
            .build();
        Ok(DataSourceExec::from_data_source(config))
    }
}

impl PhysicalExtensionCodec for OwlPhysicalCodec {
    fn try_encode_expr(
        &self,
        node: &Arc<dyn PhysicalExpr>,
        buf: &mut Vec<u8>,
        ctx: &PhysicalExprEncodeCtx<'_>,
    ) -> Result<()> {
        let Some((kind, settings)) = crate::exec::expr::travelling(node.as_ref()) else {
            buf.push(BALLISTA);
            return self.ballista.try_encode_expr(node, buf, ctx).map_err(|_| {
                DataFusionError::NotImplemented(format!(
                    "the expression `{node}` cannot run on a cluster yet"
                ))
            });
        };
        buf.push(OWL_EXPR);
        buf.push(kind.len() as u8);
        buf.extend_from_slice(kind.as_bytes());
        serde_json::to_writer(buf, &settings)
            .map_err(|e| DataFusionError::Internal(format!("`{node}` for the cluster: {e}")))
    }

    fn try_decode_expr(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn PhysicalExpr>],
        ctx: &PhysicalExprDecodeCtx<'_>,
    ) -> Result<Arc<dyn PhysicalExpr>> {
        match split(buf)? {
            (OWL_EXPR, rest) => {
                let bad = || {
                    DataFusionError::Internal(
                        "an expression from the cluster that does not decode".into(),
                    )
                };
                let (&len, rest) = rest.split_first().ok_or_else(bad)?;
                let kind = rest.get(..len as usize).ok_or_else(bad)?;
                let kind = std::str::from_utf8(kind).map_err(|_| bad())?;
                let settings = serde_json::from_slice(&rest[len as usize..]).map_err(|_| bad())?;
                crate::exec::expr::arrived(kind, settings, inputs.to_vec())
            }
            (BALLISTA, rest) => self.ballista.try_decode_expr(rest, inputs, ctx),
            (tag, _) => Err(unknown(tag)),
        }
    }

    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        match split(buf)? {
            (BALLISTA, rest) => self.ballista.try_decode(rest, inputs, ctx, proto_converter),
            (OWL_SCAN, rest) => self.decode_scan(rest, ctx, proto_converter),
            (tag, _) => Err(unknown(tag)),
        }
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<()> {
        if let Some((what, switch)) = local_only(node.as_ref()) {
            return Err(DataFusionError::NotImplemented(format!(
                "{what} cannot run on a cluster yet (`SET {switch}` plans without it)"
            )));
        }
        if let Some((config, origin)) = owl_scan(node.as_ref()) {
            return self.encode_scan(config, origin, buf, proto_converter);
        }
        let name = node.name().to_string();
        buf.push(BALLISTA);
        self.ballista
            .try_encode(node, buf, proto_converter)
            .map_err(|e| {
                DataFusionError::NotImplemented(format!(
                    "`{name}` cannot run on a cluster yet: {e}"
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{ArrayRef, Decimal128Array, Int64Array, StringViewArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::arrow::record_batch::RecordBatch;
    use datafusion::arrow::util::pretty::pretty_format_batches;
    use datafusion::catalog::memory::MemorySourceConfig;
    use datafusion::logical_expr::Operator;
    use datafusion::physical_expr::expressions::{BinaryExpr, Column, InListExpr, lit};
    use datafusion::physical_plan::displayable;
    use datafusion::physical_plan::filter::FilterExec;
    use datafusion::physical_plan::projection::ProjectionExec;
    use datafusion::prelude::SessionContext;
    use datafusion_proto::physical_plan::AsExecutionPlan;
    use datafusion_proto::protobuf::PhysicalPlanNode;

    /// Rows with a string-view column, two decimals and an integer (a NULL in each).
    fn input() -> Arc<dyn ExecutionPlan> {
        let schema = Arc::new(Schema::new(vec![
            Field::new("mode", DataType::Utf8View, true),
            Field::new("price", DataType::Decimal128(15, 2), true),
            Field::new("discount", DataType::Decimal128(15, 2), true),
            Field::new("n", DataType::Int64, true),
        ]));
        let modes = [
            Some("MAIL"),
            Some("SHIP"),
            None,
            Some("a mode longer than twelve bytes"),
            Some("AIR"),
            Some("MAIL"),
        ];
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(StringViewArray::from(modes.to_vec())) as ArrayRef,
                Arc::new(
                    Decimal128Array::from(vec![
                        Some(10_050),
                        Some(9_999_999),
                        Some(1),
                        None,
                        Some(-2_500),
                        Some(7),
                    ])
                    .with_precision_and_scale(15, 2)
                    .unwrap(),
                ),
                Arc::new(
                    Decimal128Array::from(vec![Some(5), Some(10), None, Some(3), Some(0), Some(1)])
                        .with_precision_and_scale(15, 2)
                        .unwrap(),
                ),
                Arc::new(Int64Array::from(vec![
                    Some(1),
                    Some(2),
                    Some(3),
                    None,
                    Some(5),
                    Some(6),
                ])),
            ],
        )
        .unwrap();
        MemorySourceConfig::try_new_exec(&[vec![batch]], schema, None).unwrap()
    }

    fn col(name: &str, plan: &Arc<dyn ExecutionPlan>) -> Arc<dyn PhysicalExpr> {
        Arc::new(Column::new_with_schema(name, &plan.schema()).unwrap())
    }

    /// `plan` as a scheduler sends it (bytes) and an executor decodes it.
    fn round_trip(plan: &Arc<dyn ExecutionPlan>) -> Arc<dyn ExecutionPlan> {
        use prost_flight::Message;
        let codec = OwlPhysicalCodec::default();
        let bytes = PhysicalPlanNode::try_from_physical_plan(Arc::clone(plan), &codec)
            .unwrap()
            .encode_to_vec();
        let ctx = SessionContext::new();
        PhysicalPlanNode::decode(bytes.as_slice())
            .unwrap()
            .try_into_physical_plan(&ctx.task_ctx(), &codec)
            .unwrap()
    }

    /// The plan's text and its rows.
    async fn shown_and_run(plan: Arc<dyn ExecutionPlan>) -> (String, String) {
        let text = displayable(plan.as_ref()).indent(true).to_string();
        let ctx = SessionContext::new();
        let batches = datafusion::physical_plan::collect(plan, ctx.task_ctx())
            .await
            .unwrap();
        (text, pretty_format_batches(&batches).unwrap().to_string())
    }

    /// Encoded and decoded: the same plan text (which names owl's expression) and the same rows.
    async fn travels(plan: Arc<dyn ExecutionPlan>, marked: &str) {
        let arrived = round_trip(&plan);
        let (want_text, want_rows) = shown_and_run(plan).await;
        let (text, rows) = shown_and_run(arrived).await;
        assert!(want_text.contains(marked), "{want_text}");
        assert_eq!(text, want_text);
        assert_eq!(rows, want_rows);
        assert!(rows.lines().count() > 4, "some rows: {rows}");
    }

    #[tokio::test]
    async fn a_string_view_comparison_travels() {
        use crate::exec::expr::view_eq;
        let scan = input();
        let schema = scan.schema();
        for (literals, negated) in [
            (vec!["MAIL"], false),
            (vec!["MAIL", "a mode longer than twelve bytes"], false),
            (vec!["SHIP", "AIR"], true),
        ] {
            let list = literals.iter().map(|s| lit(*s)).collect();
            let expr: Arc<dyn PhysicalExpr> =
                Arc::new(InListExpr::try_new(col("mode", &scan), list, negated, &schema).unwrap());
            let expr = view_eq::rewrite(expr, &schema);
            assert!(expr.transformed);
            let plan = Arc::new(FilterExec::try_new(expr.data, Arc::clone(&scan)).unwrap());
            travels(plan, "(by view)").await;
        }
    }

    #[tokio::test]
    async fn decimal_arithmetic_travels() {
        use crate::exec::expr::decimal;
        let scan = input();
        let schema = scan.schema();
        let mut exprs = vec![];
        for (i, op) in [Operator::Plus, Operator::Minus, Operator::Multiply]
            .into_iter()
            .enumerate()
        {
            let binary: Arc<dyn PhysicalExpr> = Arc::new(BinaryExpr::new(
                col("price", &scan),
                op,
                col("discount", &scan),
            ));
            let fast = decimal::rewrite(&binary, &schema).unwrap();
            assert!(fast.downcast_ref::<decimal::DecimalArith>().is_some());
            exprs.push((fast, format!("e{i}")));
        }
        let plan = Arc::new(ProjectionExec::try_new(exprs, scan).unwrap());
        travels(plan, "price@1 - discount@2 (batch-checked)").await;
    }

    #[tokio::test]
    async fn a_conjunction_travels() {
        use crate::exec::expr::conjunction;
        let scan = input();
        let schema = scan.schema();
        let predicate: Arc<dyn PhysicalExpr> = Arc::new(BinaryExpr::new(
            Arc::new(BinaryExpr::new(col("n", &scan), Operator::Gt, lit(1i64))),
            Operator::And,
            Arc::new(
                InListExpr::try_new(
                    col("mode", &scan),
                    ["MAIL", "AIR"]
                        .map(|s| lit(datafusion::common::ScalarValue::Utf8View(Some(s.into()))))
                        .to_vec(),
                    false,
                    &schema,
                )
                .unwrap(),
            ),
        ));
        let predicate = conjunction::rewrite(&predicate).unwrap();
        let plan = Arc::new(FilterExec::try_new(predicate, scan).unwrap());
        travels(plan, "(in turn)").await;
    }

    #[test]
    fn datafusions_own_expressions_travel_as_before() {
        let scan = input();
        let expr = Arc::new(BinaryExpr::new(col("n", &scan), Operator::Gt, lit(1i64)));
        let plan = Arc::new(FilterExec::try_new(expr, scan).unwrap()) as Arc<dyn ExecutionPlan>;
        let arrived = round_trip(&plan);
        assert_eq!(
            displayable(arrived.as_ref()).indent(true).to_string(),
            displayable(plan.as_ref()).indent(true).to_string()
        );
    }
}
