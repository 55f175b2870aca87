/**
 * The starter policy `warden serve` deploys on first start: deny by default, and one example of
 * each idiom (docs/policy.md explains them). test/policy/starter.test.ts pins its decisions.
 */
export const STARTER_POLICY = `// Warden starter policy.
//
// Deny by default: an action is allowed only when a permit below applies and no forbid does.
// Annotations on the permits that apply shape the decision:
//   @approval("role")    -> require_approval: a human with that role decides
//   @obligation("a, b")  -> allow_with_conditions: the caller must apply a and b
//   @reason("...")       -> the reason recorded in the receipt
// Every policy needs a unique @id. Change a copy, then:
//   warden policy validate my.cedar && warden policy test cases.yaml --policy my.cedar
//   warden policy deploy my.cedar        (warden policy rollback undoes it)

// ---- Tenant isolation: never act on another tenant's resources (the gateway checks it too).
@id("tenant-isolation")
@reason("the resource belongs to another tenant")
forbid (principal, action, resource)
when { resource.tenant != principal.tenant };

// ---- Generic shell tools are forbidden: register narrow tools instead.
@id("forbid-shell-tools")
@reason("generic shell tools are forbidden by policy; register a narrow tool instead")
forbid (principal, action == Warden::Action::"tool.call", resource)
when { ["shell", "exec", "run_command", "bash", "sh", "terminal", "powershell", "cmd"].contains(resource.name) ||
       resource.name like "*shell*" || resource.name like "*Shell*" || resource.name like "*SHELL*" ||
       resource.name like "exec*" || resource.name like "Exec*" || resource.name like "EXEC*" };

@id("forbid-shell-mcp-tools")
@reason("generic shell tools are forbidden by policy; register a narrow tool instead")
forbid (principal, action == Warden::Action::"mcp.request", resource)
when { ["shell", "exec", "run_command", "bash", "sh", "terminal", "powershell", "cmd"].contains(resource.name) ||
       resource.name like "*shell*" || resource.name like "*Shell*" || resource.name like "*SHELL*" ||
       resource.name like "exec*" || resource.name like "Exec*" || resource.name like "EXEC*" };

// ---- MCP tools of a server with a SchemaPin signing domain must verify: a bad or missing
// signature, a revoked, changed or unreachable key is refused. Servers without a signing
// domain ("unsigned") are allowed: most sign nothing yet.
@id("forbid-mis-signed-mcp-tools")
@reason("the MCP tool's SchemaPin signature does not verify (invalid or missing signature; revoked, changed or unreachable key)")
forbid (principal, action == Warden::Action::"mcp.request", resource)
when { context has tool_signature && ["invalid", "missing", "revoked", "key_changed", "no_key"].contains(context.tool_signature) };

// ---- Nothing scored critical runs, whoever allows it.
@id("forbid-critical-risk")
@reason("the action's risk is critical")
forbid (
  principal,
  action in [Warden::Action::"tool.call", Warden::Action::"mcp.request", Warden::Action::"http.egress",
             Warden::Action::"agent.message", Warden::Action::"data.read", Warden::Action::"data.write",
             Warden::Action::"data.delete"],
  resource
)
when { context.risk_level == "critical" };

// ---- Tools, MCP tools, HTTP hosts and other agents the agent is granted.
// context.granted is computed by Warden: the passport's scope (or, when the passport is not
// narrowed, the agent's capabilities) covers resource.ref -- e.g. capability "tool:search" or
// "tool:*" for tool:search, "http:api.example.com" for http:api.example.com.
@id("allow-granted")
permit (
  principal,
  action in [Warden::Action::"tool.call", Warden::Action::"mcp.request", Warden::Action::"http.egress",
             Warden::Action::"agent.message"],
  resource
)
when { context.granted };

// The same for tools listed by bare name in the capabilities ("search" for tool:search).
@id("allow-tools-by-name")
permit (principal, action == Warden::Action::"tool.call", resource)
when { principal.capabilities.contains(resource.name) };

// ---- Payments: up to $10 (1000 cents) are allowed, more needs an approver.
@id("payments-small")
@reason("payment of at most $10 by an agent granted payments")
permit (principal, action == Warden::Action::"tool.call", resource == Warden::Tool::"payments.send")
when { (context.granted || principal.capabilities.contains(resource.name)) && context has amount && context.amount <= 1000 };

@id("payments-need-approval")
@approval("approver")
@reason("payments over $10 need an approver")
permit (principal, action == Warden::Action::"tool.call", resource == Warden::Tool::"payments.send")
when { (context.granted || principal.capabilities.contains(resource.name)) && context has amount && context.amount > 1000 };

@id("payments-need-amount")
@reason("payments.send needs a positive context.amount (in cents)")
forbid (principal, action == Warden::Action::"tool.call", resource == Warden::Tool::"payments.send")
unless { context has amount && context.amount > 0 };

// ---- Data: reads within the agent's own tenant; personal data only redacted.
@id("data-read-own-tenant")
@reason("granted read within the agent's tenant")
permit (principal, action == Warden::Action::"data.read", resource)
when {
  resource.tenant == principal.tenant && context.granted &&
  !(context has data_class && context.data_class == "pii")
};

@id("data-read-pii-redacted")
@obligation("redact_pii")
@reason("personal data is returned redacted")
permit (principal, action == Warden::Action::"data.read", resource)
when {
  resource.tenant == principal.tenant && context.granted &&
  context has data_class && context.data_class == "pii"
};

// Writes need a grant (capability "data:NAME" or "data:*"); deletes also an approver.
@id("data-write-granted")
permit (principal, action == Warden::Action::"data.write", resource)
when { resource.tenant == principal.tenant && context.granted };

@id("data-delete-needs-approval")
@approval("approver")
permit (principal, action == Warden::Action::"data.delete", resource)
when { resource.tenant == principal.tenant && context.granted };

// ---- Firewall. The gateway itself denies honeytokens and data whose DLP action is block; the
// policy says so too, so policy tests and what-if replays show it.
@id("forbid-firewall-blocks")
@reason("the firewall found a honeytoken or data that must not leave")
forbid (
  principal,
  action in [Warden::Action::"tool.call", Warden::Action::"mcp.request", Warden::Action::"http.egress",
             Warden::Action::"agent.message", Warden::Action::"data.read", Warden::Action::"data.write",
             Warden::Action::"data.delete"],
  resource
)
when { context.firewall.honeytoken || context.firewall.dlp_block };

// ---- Tainted sessions (context.tainted: the session took in untrusted content the injection
// detector flagged). Untrusted content + private data + outbound communication is never
// silently allowed: a human decides. These permits carry @approval, so when they apply the
// decision is require_approval even if another permit allows the action.
@id("tainted-egress-off-allowlist")
@approval("approver")
@reason("the session took in flagged untrusted content; reaching a destination outside the egress allowlist needs an approver")
permit (
  principal,
  action in [Warden::Action::"tool.call", Warden::Action::"mcp.request", Warden::Action::"http.egress", Warden::Action::"agent.message"],
  resource
)
when { context.tainted && context.granted && (action == Warden::Action::"http.egress" || context has domain) && !context.firewall.egress_allowed };

@id("tainted-high-risk")
@approval("approver")
@reason("the session took in flagged untrusted content; high-risk actions need an approver")
permit (
  principal,
  action in [Warden::Action::"tool.call", Warden::Action::"mcp.request", Warden::Action::"http.egress",
             Warden::Action::"agent.message", Warden::Action::"data.write", Warden::Action::"data.delete"],
  resource
)
when { context.tainted && context.granted && context.risk_level == "high" };

@id("tainted-private-data-outbound")
@approval("approver")
@reason("the session took in flagged untrusted content; sending private data out needs an approver")
permit (
  principal,
  action in [Warden::Action::"tool.call", Warden::Action::"mcp.request", Warden::Action::"http.egress", Warden::Action::"agent.message"],
  resource
)
when {
  context.tainted && context.granted &&
  (action == Warden::Action::"http.egress" || action == Warden::Action::"agent.message" || context has domain) &&
  ((context has data_class && ["confidential", "restricted", "secret", "pii"].contains(context.data_class)) || !context.firewall.dlp.isEmpty())
};

// ---- Operators with the admin role manage agents and the tenant.
@id("operators-admin")
permit (principal in Warden::Role::"admin", action in [Warden::Action::"agent.lifecycle", Warden::Action::"admin"], resource)
when { resource.tenant == principal.tenant };
`;
