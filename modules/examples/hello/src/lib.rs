//! An example kmicro module: every ConfigMap labelled `hello.kmicro.io/greet=true` gets a
//! `greeting` entry in its data, `<greeting>, <name>!`, with the greeting from the module's
//! config (`{"greeting": "Hi"}`; `Hello` by default). Remove the label and the entry stays;
//! change the config (swap or reload the module) and every greeted ConfigMap follows.

use kmicro_module_sdk::k8s_openapi::api::core::v1::ConfigMap;
use kmicro_module_sdk::{
    Action, Api, Cache, Descriptor, Error, Key, ListParams, Module, ResourceExt, Rule, Setup, info,
    module, runtime,
};

/// The label that asks for a greeting.
const LABEL: &str = "hello.kmicro.io/greet";

/// The module's config.
#[derive(serde::Deserialize)]
#[serde(default)]
struct Config {
    greeting: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            greeting: "Hello".to_string(),
        }
    }
}

/// The module: its greeting and the ConfigMaps that asked for one.
struct Hello {
    greeting: String,
    config_maps: Cache<ConfigMap>,
}

impl Module for Hello {
    fn describe() -> Descriptor {
        Descriptor {
            version: env!("CARGO_PKG_VERSION").to_string(),
            permissions: vec![Rule::new(
                &[""],
                &["configmaps"],
                &["get", "list", "watch", "update"],
            )],
        }
    }

    fn init(
        config: &kmicro_module_sdk::serde_json::Value,
        setup: &mut Setup,
    ) -> Result<Self, Error> {
        let config: Config = runtime::config(config)?;
        let config_maps = setup.watch(
            None,
            &ListParams::labels(&format!("{LABEL}=true")),
            |cm: &ConfigMap| vec![Key::new("configmap", cm.namespace_any(), cm.name_any())],
        )?;
        info!(
            "greeting ConfigMaps labelled {LABEL}=true with {:?}",
            config.greeting
        );
        Ok(Self {
            greeting: config.greeting,
            config_maps,
        })
    }

    fn reconcile(&mut self, key: &Key) -> Result<Action, Error> {
        let Some(cm) = self.config_maps.get(&key.namespace, &key.name) else {
            return Ok(Action::Done);
        };
        let greeting = format!("{}, {}!", self.greeting, key.name);
        if cm.data.as_ref().and_then(|d| d.get("greeting")) == Some(&greeting) {
            return Ok(Action::Done);
        }
        let mut cm = (*cm).clone();
        cm.data
            .get_or_insert_with(Default::default)
            .insert("greeting".to_string(), greeting);
        let stored = Api::<ConfigMap>::namespaced(&key.namespace).replace(&cm)?;
        self.config_maps.record(stored);
        info!("greeted {}/{}", key.namespace, key.name);
        Ok(Action::Done)
    }
}

module!(Hello);
