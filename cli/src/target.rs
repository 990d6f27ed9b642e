//! Which stack the operator commands act on, the AWS way: `--stack-name` (its outputs name the
//! table, the queues and the application key), `--profile`, `--region`; explicit flags and
//! `WOOLINK_*` variables win over the stack's outputs. And how they answer: one JSON line, or
//! `--output table`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use woolink::wiring::Services;

pub type CliError = Box<dyn std::error::Error>;

/// Options every command takes, before or after its name.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct Global {
    /// The CloudFormation stack to administer: its outputs give the table (TableName), the
    /// queues and the application key (AppKeyArn) unless a flag or WOOLINK_* variable does.
    #[arg(long, env = "WOOLINK_STACK", global = true)]
    pub stack_name: Option<String>,
    /// The AWS profile to use (~/.aws/config; AWS_PROFILE works too).
    #[arg(long, global = true)]
    pub profile: Option<String>,
    /// The AWS region (else AWS_REGION, or the profile's).
    #[arg(long, global = true)]
    pub region: Option<String>,
    /// How to answer: one JSON line (default), or a table for people.
    #[arg(long, value_enum, default_value_t = Output::Json, global = true)]
    pub output: Output,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Output {
    #[default]
    Json,
    Table,
}

static TABLE_OUTPUT: AtomicBool = AtomicBool::new(false);

pub fn set_output(output: Output) {
    TABLE_OUTPUT.store(output == Output::Table, Ordering::Relaxed);
}

/// What a command answers: one JSON line on stdout, or (`--output table`) its fields as a
/// table, the list it carries as rows.
pub fn emit(value: serde_json::Value) {
    if TABLE_OUTPUT.load(Ordering::Relaxed) {
        print!("{}", table(&value));
    } else {
        println!("{value}");
    }
}

/// Progress for people, on stderr (stdout stays one JSON line for scripts).
pub fn progress(message: impl std::fmt::Display) {
    eprintln!("{message}");
}

fn cell(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "-".to_owned(),
        other => other.to_string(),
    }
}

fn rows(headers: &[String], rows: &[Vec<String>]) -> String {
    let widths: Vec<usize> = headers
        .iter()
        .enumerate()
        .map(|(i, h)| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([h.chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &[String]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    let mut out = line(headers);
    out.push_str(&line(
        &widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>(),
    ));
    for r in rows {
        out.push_str(&line(r));
    }
    out
}

/// An object's scalar fields as `field  value` rows, then each list of objects it holds as a
/// table of its own.
pub fn table(value: &serde_json::Value) -> String {
    let Some(object) = value.as_object() else {
        return format!("{}\n", cell(value));
    };
    let mut fields = Vec::new();
    let mut lists = Vec::new();
    for (k, v) in object {
        match v.as_array() {
            Some(items) if items.iter().all(|i| i.is_object()) && !items.is_empty() => {
                lists.push((k, items))
            }
            _ => fields.push(vec![k.clone(), cell(v)]),
        }
    }
    let mut out = String::new();
    if !fields.is_empty() {
        out.push_str(&rows(&["field".into(), "value".into()], &fields));
    }
    for (name, items) in lists {
        let mut headers: Vec<String> = Vec::new();
        for item in items {
            for k in item.as_object().into_iter().flatten().map(|(k, _)| k) {
                if !headers.contains(k) {
                    headers.push(k.clone());
                }
            }
        }
        let body: Vec<Vec<String>> = items
            .iter()
            .map(|i| headers.iter().map(|h| cell(&i[h])).collect())
            .collect();
        out.push_str(&format!("\n{name}\n"));
        out.push_str(&rows(&headers, &body));
    }
    out
}

/// The AWS configuration and the stack's outputs, resolved once per command.
pub struct Context {
    pub sdk: SdkConfig,
    outputs: BTreeMap<String, String>,
    stack: Option<String>,
}

impl Global {
    pub async fn context(&self) -> Result<Context, CliError> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(profile) = &self.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(region) = &self.region {
            loader = loader.region(Region::new(region.clone()));
        }
        let sdk = loader.load().await;
        let outputs = match &self.stack_name {
            None => BTreeMap::new(),
            Some(name) => stack_outputs(&sdk, name).await?,
        };
        Ok(Context {
            sdk,
            outputs,
            stack: self.stack_name.clone(),
        })
    }
}

fn region_of(sdk: &SdkConfig) -> String {
    sdk.region()
        .map_or_else(|| "no region".to_owned(), |r| r.to_string())
}

async fn stack_outputs(sdk: &SdkConfig, name: &str) -> Result<BTreeMap<String, String>, CliError> {
    use aws_sdk_cloudformation::error::ProvideErrorMetadata;
    let cfn = aws_sdk_cloudformation::Client::new(sdk);
    let found = cfn
        .describe_stacks()
        .stack_name(name)
        .send()
        .await
        .map_err(|e| {
            let detail = e.message().unwrap_or("no answer").to_owned();
            format!(
                "stack {name} cannot be read in {} ({detail}): check --stack-name, --region and --profile",
                region_of(sdk)
            )
        })?;
    let stack = found
        .stacks()
        .first()
        .ok_or_else(|| format!("stack {name} not found in {}", region_of(sdk)))?;
    Ok(stack
        .outputs()
        .iter()
        .filter_map(|o| Some((o.output_key()?.to_owned(), o.output_value()?.to_owned())))
        .collect())
}

impl Context {
    /// A value from a flag or its variable, else the stack's output, else nothing.
    pub fn pick(&self, given: Option<&str>, output: &str) -> Option<String> {
        given
            .map(str::to_owned)
            .or_else(|| self.outputs.get(output).cloned())
    }

    /// The same, required: says where it may come from.
    pub fn require(
        &self,
        given: Option<&str>,
        output: &str,
        how: &str,
    ) -> Result<String, CliError> {
        self.pick(given, output).ok_or_else(|| {
            match &self.stack {
                Some(stack) => {
                    format!("{how}, or give the stack an output {output} (stack {stack} has none)")
                }
                None => format!("{how}, or name the stack with --stack-name"),
            }
            .into()
        })
    }

    /// The services over the table (`--table`, `WOOLINK_TABLE`, the stack's TableName, else
    /// `woolink`), after checking the table exists.
    pub async fn services(&self, table: Option<&str>) -> Result<Arc<Services>, CliError> {
        let table = self
            .pick(table, "TableName")
            .unwrap_or_else(|| "woolink".to_owned());
        let key_arn = self.outputs.get("AppKeyArn").map(String::as_str);
        let named = |v: &str| std::env::var(v).is_ok_and(|v| !v.is_empty());
        if key_arn.is_none() && !named("WOOLINK_SECRETS_KEY") && !named("WOOLINK_SECRETS_KEY_ARN") {
            return Err("no application key: set WOOLINK_SECRETS_KEY or WOOLINK_SECRETS_KEY_ARN (the stack's AppKeyArn output), or name the stack with --stack-name".into());
        }
        let (sdk, mut config) =
            woolink::wiring::load_config_with(self.sdk.clone(), key_arn).await?;
        self.check_table(&table).await?;
        config.table = table;
        if config.jobs_queue_url.is_none() {
            config.jobs_queue_url = self.outputs.get("CatchUpQueueUrl").cloned();
        }
        if config.shipments_queue_url.is_none() {
            config.shipments_queue_url = self.outputs.get("ShipmentsQueueUrl").cloned();
        }
        Ok(Services::aws(&sdk, &config)?)
    }

    /// One DescribeTable: a wrong name is said plainly, before any command runs.
    async fn check_table(&self, table: &str) -> Result<(), CliError> {
        use aws_sdk_dynamodb::error::ProvideErrorMetadata;
        let db = aws_sdk_dynamodb::Client::new(&self.sdk);
        match db.describe_table().table_name(table).send().await {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("ResourceNotFoundException") => Err(format!(
                "table {table} not found in {}: set WOOLINK_TABLE or --table, or name the stack with --stack-name",
                region_of(&self.sdk)
            )
            .into()),
            Err(e) => Err(format!(
                "table {table} cannot be read in {}: {}",
                region_of(&self.sdk),
                e.message().unwrap_or("no answer (credentials, endpoint or network)")
            )
            .into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_has_the_fields_then_each_list() {
        let t = table(&serde_json::json!({
            "deadLetters": 2,
            "messages": [{"orderId": 42, "storeId": "st_1"}, {"undecodable": "junk"}],
            "tenant": null,
        }));
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "field        value");
        assert_eq!(lines[2], "deadLetters  2");
        assert_eq!(lines[3], "tenant       -");
        assert_eq!(lines[5], "messages");
        assert_eq!(lines[6], "orderId  storeId  undecodable");
        assert_eq!(lines[8], "42       st_1     -");
        assert_eq!(lines[9], "-        -        junk");
    }
}
