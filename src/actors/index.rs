//! IndexActor: the services/operations catalog, kept current so `/api/services` and
//! `/api/operations` never touch the store.
//!
//! Loaded from the store at start-up, extended after every durable write, reloaded after
//! retention drops partitions. Holds only names, bounded by the distinct
//! (service, operation, kind) tuples stored.

use std::collections::{BTreeMap, BTreeSet};

use actix::prelude::*;

use crate::model::{Operation, SpanKind};
use crate::storage::CatalogEntry;

/// New (service, operation, kind) tuples from a durable write.
#[derive(Message)]
#[rtype(result = "()")]
pub struct RecordOperations(pub Vec<CatalogEntry>);

/// Replace the whole catalog (after retention).
#[derive(Message)]
#[rtype(result = "()")]
pub struct ReloadCatalog(pub Vec<CatalogEntry>);

/// Service names, sorted.
#[derive(Message)]
#[rtype(result = "Vec<String>")]
pub struct GetServices;

/// Operations of a service, sorted by name then kind, optionally of one kind only.
#[derive(Message)]
#[rtype(result = "Vec<Operation>")]
pub struct GetOperations {
    pub service: String,
    pub span_kind: Option<SpanKind>,
}

#[derive(Default)]
pub struct IndexActor {
    catalog: BTreeMap<String, BTreeSet<Operation>>,
}

impl IndexActor {
    pub fn new(entries: Vec<CatalogEntry>) -> Self {
        let mut a = IndexActor::default();
        a.record(entries);
        a
    }

    fn record(&mut self, entries: Vec<CatalogEntry>) {
        for e in entries {
            self.catalog
                .entry(e.service)
                .or_default()
                .insert(e.operation);
        }
    }

    fn services(&self) -> Vec<String> {
        self.catalog.keys().cloned().collect()
    }

    fn operations(&self, service: &str, kind: Option<SpanKind>) -> Vec<Operation> {
        self.catalog
            .get(service)
            .map(|ops| {
                ops.iter()
                    .filter(|o| kind.is_none_or(|k| o.span_kind == k))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Actor for IndexActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(1024);
    }
}

impl Handler<RecordOperations> for IndexActor {
    type Result = ();
    fn handle(&mut self, RecordOperations(entries): RecordOperations, _: &mut Context<Self>) {
        self.record(entries);
    }
}

impl Handler<ReloadCatalog> for IndexActor {
    type Result = ();
    fn handle(&mut self, ReloadCatalog(entries): ReloadCatalog, _: &mut Context<Self>) {
        self.catalog.clear();
        self.record(entries);
    }
}

impl Handler<GetServices> for IndexActor {
    type Result = Vec<String>;
    fn handle(&mut self, _: GetServices, _: &mut Context<Self>) -> Vec<String> {
        self.services()
    }
}

impl Handler<GetOperations> for IndexActor {
    type Result = Vec<Operation>;
    fn handle(&mut self, msg: GetOperations, _: &mut Context<Self>) -> Vec<Operation> {
        self.operations(&msg.service, msg.span_kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(svc: &str, op: &str, kind: SpanKind) -> CatalogEntry {
        CatalogEntry {
            service: svc.into(),
            operation: Operation {
                name: op.into(),
                span_kind: kind,
            },
        }
    }

    #[actix::test]
    async fn records_and_filters_operations_by_kind() {
        let addr = IndexActor::new(vec![entry("b", "op1", SpanKind::Server)]).start();
        addr.send(RecordOperations(vec![
            entry("a", "op2", SpanKind::Client),
            entry("b", "op3", SpanKind::Client),
        ]))
        .await
        .unwrap();
        assert_eq!(addr.send(GetServices).await.unwrap(), vec!["a", "b"]);
        let ops = addr
            .send(GetOperations {
                service: "b".into(),
                span_kind: Some(SpanKind::Client),
            })
            .await
            .unwrap();
        assert_eq!(ops.len(), 1);
        assert_eq!(ops[0].name, "op3");
        addr.send(ReloadCatalog(vec![entry("c", "x", SpanKind::Internal)]))
            .await
            .unwrap();
        assert_eq!(addr.send(GetServices).await.unwrap(), vec!["c"]);
    }
}
