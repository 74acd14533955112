//! The WIT imports (`api`, `log`, `clock`, `scratch`) as the sandbox serves them to one
//! instance, and the instance's store data.
//!
//! Every `api` call goes through the same gate, in this order: the CPU budget (a module out
//! of it traps here), the host-call rate (429), the arguments' shape (400/413/422), the
//! manifest (403). Only then does the kernel see the call, and only the time the kernel
//! takes is left out of the module's CPU time.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::mpsc;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::api::{ApiCall, ApiError, ListOptions, ResourceRef, Verb};
use crate::bindings::kmicro::module::{api as wit_api, clock, log, scratch, types};
use crate::context::ModuleContext;
use crate::informer::{self, Delivery, Watches};
use crate::limits::{Exceeded, GuestClock, MemoryLimiter};
use crate::logs::{LogLevel, LogSource};
use crate::manifest::Permissions;
use crate::stdio::GuestOutput;
use crate::validate;

/// The store data of one instance.
pub(crate) struct InstanceState {
    pub(crate) module: Arc<ModuleContext>,
    wasi: WasiCtx,
    table: ResourceTable,
    stdout: GuestOutput,
    stderr: GuestOutput,
    pub(crate) limiter: MemoryLimiter,
    pub(crate) clock: GuestClock,
    /// The limit that stopped the current call, if one did.
    pub(crate) exceeded: Option<Exceeded>,
    /// Empty until `describe` answered: calls from `describe` are refused.
    pub(crate) permissions: Permissions,
    pub(crate) watches: Watches,
    queue: mpsc::Sender<Delivery>,
}

impl InstanceState {
    pub(crate) fn new(module: Arc<ModuleContext>, queue: mpsc::Sender<Delivery>) -> InstanceState {
        let stdout = GuestOutput::new(module.clone(), LogSource::Stdout);
        let stderr = GuestOutput::new(module.clone(), LogSource::Stderr);
        // Nothing is granted: no preopened directories, no environment, no arguments, no
        // network; clocks and random numbers only.
        let wasi = WasiCtx::builder()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        InstanceState {
            limiter: MemoryLimiter::new(module.limits.memory_bytes),
            clock: GuestClock::new(module.epoch.clone()),
            module,
            wasi,
            table: ResourceTable::new(),
            stdout,
            stderr,
            exceeded: None,
            permissions: Permissions::default(),
            watches: Watches::default(),
            queue,
        }
    }

    /// Counts the guest's time up to this host call; traps when its budget is spent.
    fn charge(&mut self) -> wasmtime::Result<()> {
        if let Err(exceeded) = self.clock.charge() {
            self.exceeded = Some(exceeded);
            wasmtime::bail!("CPU deadline exceeded (at a host call)");
        }
        Ok(())
    }

    /// The gate of every `api` call but the call itself. `rated`: whether the call takes
    /// from the module's host-call rate (watch registrations do not: the watch limit already
    /// bounds them, and a new version's `init` registering its watches during a swap must not
    /// fail because the old version, still running beside it, spent the shared budget).
    fn admit(
        &mut self,
        verb: Verb,
        res: &ResourceRef,
        subresource: Option<&str>,
        name: Option<&str>,
        shape: Result<(), ApiError>,
        rated: bool,
    ) -> wasmtime::Result<Result<(), ApiError>> {
        self.charge()?;
        if rated && !self.module.take_call() {
            let limits = &self.module.limits;
            return Ok(Err(ApiError::too_many_requests(format!(
                "module {} is over its host call rate ({}/s, burst {})",
                self.module.name, limits.host_calls_per_second, limits.host_call_burst
            ))));
        }
        if let Err(e) = shape {
            return Ok(Err(e));
        }
        Ok(self
            .permissions
            .check(&self.module.name, verb, res, subresource, name))
    }

    /// One API call: the gate, then the kernel.
    async fn api_call(
        &mut self,
        mut call: ApiCall,
    ) -> wasmtime::Result<Result<String, types::ApiError>> {
        let shape = validate::call(&call);
        if let Err(e) = self.admit(
            call.verb(),
            call.res(),
            call.subresource(),
            call.name(),
            shape,
            true,
        )? {
            return Ok(Err(e.into()));
        }
        if let Some(options) = call.write_options_mut()
            && options.field_manager.is_none()
        {
            options.field_manager = Some(self.module.name.clone());
        }
        let answer = self.module.host.call(&self.module.name, call).await;
        self.clock.resume();
        Ok(answer.map_err(Into::into))
    }

    /// Logs a guest's partial last lines of stdout and stderr.
    pub(crate) fn flush_output(&self) {
        self.stdout.flush_partial();
        self.stderr.flush_partial();
    }
}

impl WasiView for InstanceState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl types::Host for InstanceState {}

impl wit_api::Host for InstanceState {
    async fn get(
        &mut self,
        res: types::ResourceRef,
        name: String,
        subresource: Option<String>,
    ) -> wasmtime::Result<Result<String, types::ApiError>> {
        self.api_call(ApiCall::Get {
            res: res.into(),
            name,
            subresource,
        })
        .await
    }

    async fn list(
        &mut self,
        res: types::ResourceRef,
        options: types::ListOptions,
    ) -> wasmtime::Result<Result<String, types::ApiError>> {
        self.api_call(ApiCall::List {
            res: res.into(),
            options: options.into(),
        })
        .await
    }

    async fn create(
        &mut self,
        res: types::ResourceRef,
        body: String,
        options: types::WriteOptions,
    ) -> wasmtime::Result<Result<String, types::ApiError>> {
        self.api_call(ApiCall::Create {
            res: res.into(),
            body,
            options: options.into(),
        })
        .await
    }

    async fn create_subresource(
        &mut self,
        res: types::ResourceRef,
        name: String,
        subresource: String,
        body: String,
        options: types::WriteOptions,
    ) -> wasmtime::Result<Result<String, types::ApiError>> {
        let call = ApiCall::CreateSubresource {
            res: res.into(),
            name,
            subresource,
            body,
            options: options.into(),
        };
        self.api_call(call).await
    }

    async fn update(
        &mut self,
        res: types::ResourceRef,
        name: String,
        subresource: Option<String>,
        body: String,
        options: types::WriteOptions,
    ) -> wasmtime::Result<Result<String, types::ApiError>> {
        self.api_call(ApiCall::Update {
            res: res.into(),
            name,
            subresource,
            body,
            options: options.into(),
        })
        .await
    }

    async fn patch(
        &mut self,
        res: types::ResourceRef,
        name: String,
        subresource: Option<String>,
        patch_type: types::PatchType,
        body: String,
        options: types::WriteOptions,
    ) -> wasmtime::Result<Result<String, types::ApiError>> {
        let call = ApiCall::Patch {
            res: res.into(),
            name,
            subresource,
            patch_type: patch_type.into(),
            body,
            options: options.into(),
        };
        self.api_call(call).await
    }

    async fn delete(
        &mut self,
        res: types::ResourceRef,
        name: String,
        options: types::DeleteOptions,
    ) -> wasmtime::Result<Result<String, types::ApiError>> {
        self.api_call(ApiCall::Delete {
            res: res.into(),
            name,
            options: options.into(),
        })
        .await
    }

    async fn watch(
        &mut self,
        res: types::ResourceRef,
        options: types::ListOptions,
    ) -> wasmtime::Result<Result<u32, types::ApiError>> {
        let res: ResourceRef = res.into();
        let options: ListOptions = options.into();
        let shape = validate::resource(&res).and_then(|()| validate::list_options(&options));
        if let Err(e) = self.admit(Verb::List, &res, None, None, shape, false)? {
            return Ok(Err(e.into()));
        }
        if let Err(e) = self
            .permissions
            .check(&self.module.name, Verb::Watch, &res, None, None)
        {
            return Ok(Err(e.into()));
        }
        if self.watches.len() >= self.module.limits.watches {
            return Ok(Err(ApiError::too_many_requests(format!(
                "module {} holds {} watches: the limit is {}",
                self.module.name,
                self.watches.len(),
                self.module.limits.watches
            ))
            .into()));
        }
        let snapshot = informer::list(&self.module, &res, &options).await;
        self.clock.resume();
        let snapshot = match snapshot {
            Ok(snapshot) => snapshot,
            Err(e) => return Ok(Err(e.into())),
        };
        let id = self.watches.next_id();
        let handle = informer::spawn(
            self.module.clone(),
            id,
            res,
            options,
            snapshot,
            self.queue.clone(),
        );
        self.watches.insert(id, handle);
        Ok(Ok(id))
    }

    async fn unwatch(&mut self, watch: u32) -> wasmtime::Result<()> {
        self.charge()?;
        self.watches.stop(watch);
        Ok(())
    }
}

impl log::Host for InstanceState {
    fn log(&mut self, level: types::Level, message: String) -> wasmtime::Result<()> {
        self.charge()?;
        self.module
            .guest_log(level.into(), LogSource::Module, &message);
        Ok(())
    }
}

impl clock::Host for InstanceState {
    fn now_millis(&mut self) -> wasmtime::Result<u64> {
        self.charge()?;
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Ok(u64::try_from(since.as_millis()).unwrap_or(u64::MAX))
    }

    fn set_timer(&mut self, key: String, delay_ms: u64) -> wasmtime::Result<()> {
        self.charge()?;
        let armed = self.module.timers().set(key, delay_ms);
        match armed {
            Ok(()) => self.module.timers_changed.notify_one(),
            Err(why) => self
                .module
                .host_log(LogLevel::Warn, &format!("set-timer refused: {why}")),
        }
        Ok(())
    }

    fn cancel_timer(&mut self, key: String) -> wasmtime::Result<()> {
        self.charge()?;
        self.module.timers().cancel(&key);
        Ok(())
    }
}

impl scratch::Host for InstanceState {
    fn get(&mut self, key: String) -> wasmtime::Result<Option<Vec<u8>>> {
        self.charge()?;
        Ok(self.module.scratch().get(&key))
    }

    fn set(&mut self, key: String, value: Vec<u8>) -> wasmtime::Result<Result<(), String>> {
        self.charge()?;
        Ok(self.module.scratch().set(key, value))
    }

    fn remove(&mut self, key: String) -> wasmtime::Result<()> {
        self.charge()?;
        self.module.scratch().remove(&key);
        Ok(())
    }
}
