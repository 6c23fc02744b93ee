"""`paysaga demo`: the main job, end to end, on the embedded stack.

Brings the stack up (or reuses a running one), onboards a bank account through
Plaid, runs card payments across Stripe and Braintree (one soft decline that is
retried, one hard decline that fails cleanly, one manual capture), a partial and a
full refund, settles the sandboxes and reconciles, then prints a summary. It exits
0 only if every payment ended as expected and the ledger verifies on every shard.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn
from rich.table import Table

from paysaga.cli.console import console, friendly_errors
from paysaga.cli.stack_cmd import print_urls
from paysaga.config.settings import Settings, load_settings
from paysaga.domain.money import Money
from paysaga.domain.payments import PaymentOptions, PaymentView
from paysaga.domain.status import PaymentStatus
from paysaga.sandbox import testdata
from paysaga.stack.stack import Stack, running_stack

# Soft declines are retried on this schedule in the demo (production: 1 h, 1 day, 3 days).
DEMO_DUNNING_S = (2, 4, 8)
WAIT_FOR_PAYMENT = timedelta(seconds=60)


@dataclass(frozen=True)
class PaymentPlan:
    label: str
    gateway: str
    payment_method: str
    amount_minor: int
    expected: PaymentStatus
    capture: bool = True


PLANS: tuple[PaymentPlan, ...] = (
    PaymentPlan("stripe visa", "stripe", testdata.STRIPE_PM_SUCCESS, 2500, PaymentStatus.CAPTURED),
    PaymentPlan(
        "stripe mastercard",
        "stripe",
        testdata.STRIPE_PM_SUCCESS_MASTERCARD,
        4200,
        PaymentStatus.CAPTURED,
    ),
    PaymentPlan(
        "stripe manual capture",
        "stripe",
        testdata.STRIPE_PM_SUCCESS,
        9900,
        PaymentStatus.CAPTURED,
        capture=False,
    ),
    PaymentPlan(
        "stripe soft decline, retried",
        "stripe",
        testdata.STRIPE_PM_SOFT_THEN_SUCCESS,
        1500,
        PaymentStatus.CAPTURED,
    ),
    PaymentPlan(
        "braintree visa", "braintree", testdata.BRAINTREE_NONCE_VISA, 1999, PaymentStatus.CAPTURED
    ),
    PaymentPlan(
        "braintree card",
        "braintree",
        testdata.BRAINTREE_NONCE_SUCCESS,
        7500,
        PaymentStatus.CAPTURED,
    ),
    PaymentPlan(
        "braintree hard decline",
        "braintree",
        testdata.BRAINTREE_NONCE_HARD_DECLINE,
        3000,
        PaymentStatus.FAILED,
    ),
)


@dataclass
class DemoOutcome:
    run_id: str
    payments: list[tuple[PaymentPlan, PaymentView]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    onboarding: str = "not run"
    reconciliation: str = "not run"
    balances: list[tuple[str, str, int, int, int]] = field(default_factory=list)
    ledger_ok: bool = False
    ledger_message: str = ""


@friendly_errors
def demo(
    stop: bool = typer.Option(
        False, "--stop", help="Stop the stack afterwards even if the demo started it."
    ),
) -> None:
    """Run payments end to end on the embedded stack and print a summary."""
    settings = load_settings()
    stack: Stack | None = None
    if running_stack(settings.data_dir):
        console.print("[dim]reusing the running paysaga stack[/]")
    else:
        stack = Stack(settings, progress=lambda m: console.print(f"[dim]… {m}[/]"))
        try:
            print_urls(stack.up())
        except KeyboardInterrupt:
            stack.down()
            raise typer.Exit(130) from None
    ok = False
    try:
        outcome = asyncio.run(_run(settings))
        _print_summary(settings, outcome)
        ok = outcome.ledger_ok and not outcome.problems
    except KeyboardInterrupt:
        # Ctrl-C: stop what we started, leave nothing running.
        if stack is not None:
            stack.down()
            stack = None
        raise typer.Exit(130) from None
    finally:
        if stack is not None and stop:
            stack.down()
    if stack is not None and not stop:
        console.print(
            "[dim]the stack keeps running for the Web UI links; `paysaga down` stops it[/]"
        )
    if not ok:
        raise typer.Exit(1)


async def _run(settings: Settings) -> DemoOutcome:
    from paysaga.client.client import PaysagaClient
    from paysaga.client.control.db import control_engine
    from paysaga.client.control.merchants import MerchantStore
    from paysaga.config.temporal import connect_client

    outcome = DemoOutcome(run_id=uuid.uuid4().hex[:8])
    engine = control_engine(settings.shard_urls()[0])
    try:
        issued = await MerchantStore(engine).create_merchant(f"demo-{outcome.run_id}")
    finally:
        await engine.dispose()
    temporal = await connect_client(settings)
    client = PaysagaClient(temporal, merchant_id=issued.merchant_id)

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        console=console,
    ) as progress:
        await _onboard(settings, client, outcome, progress)
        await _pay(client, outcome, progress)
        await _refund(client, outcome, progress)
        await _reconcile(settings, client, outcome, progress)
    await _check_ledger(settings, outcome)
    return outcome


async def _onboard(
    settings: Settings, client: object, outcome: DemoOutcome, progress: Progress
) -> None:
    from paysaga.client.client import PaysagaClient
    from paysaga.domain.status import OnboardingStatus
    from paysaga.gateways.plaid_client import PlaidClient

    assert isinstance(client, PaysagaClient)
    task = progress.add_task("onboarding a bank account through Plaid", total=3)
    view = await client.start_onboarding(
        idempotency_key=f"demo-{outcome.run_id}",
        customer_id=f"cus-demo-{outcome.run_id}",
        legal_name=testdata.PLAID_SANDBOX_OWNER_NAME,
        email="alberta@example.com",
    )
    progress.advance(task)
    plaid = PlaidClient.from_settings(settings)
    try:
        public_token = await asyncio.to_thread(
            plaid.sandbox_public_token, testdata.PLAID_INSTITUTION_ID
        )
    finally:
        plaid.close()
    progress.advance(task)
    await client.complete_onboarding(view.onboarding_id, public_token)
    deadline = asyncio.get_running_loop().time() + 60
    while True:
        view = await client.get_onboarding(view.onboarding_id)
        if view.status in (
            OnboardingStatus.COMPLETED,
            OnboardingStatus.FAILED,
            OnboardingStatus.EXPIRED,
            OnboardingStatus.CANCELED,
        ):
            break
        if asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.3)
    progress.advance(task)
    outcome.onboarding = f"{view.status} (bank account {view.bank_account_id or '-'})"
    if view.status != OnboardingStatus.COMPLETED:
        outcome.problems.append(f"onboarding ended {view.status}: {view.last_error}")


async def _pay(client: object, outcome: DemoOutcome, progress: Progress) -> None:
    from paysaga.client.client import PaysagaClient

    assert isinstance(client, PaysagaClient)
    task = progress.add_task("card payments across Stripe and Braintree", total=len(PLANS))

    async def one(index: int, plan: PaymentPlan) -> tuple[PaymentPlan, PaymentView]:
        view = await client.create_payment(
            idempotency_key=f"demo-{outcome.run_id}-{index}",
            amount_minor=plan.amount_minor,
            currency="USD",
            customer_id=f"cus-demo-{outcome.run_id}",
            payment_method=plan.payment_method,
            gateway=plan.gateway,
            capture=plan.capture,
            description=plan.label,
            options=PaymentOptions(dunning_schedule_s=DEMO_DUNNING_S),
        )
        if not plan.capture:
            view = await client.wait_for_payment(
                view.payment_id,
                lambda v: (
                    v.status != PaymentStatus.AUTHORIZING and v.status != PaymentStatus.PENDING
                ),
                WAIT_FOR_PAYMENT,
            )
            if view.status == PaymentStatus.AWAITING_CAPTURE:
                view = await client.capture(view.payment_id)
        view = await client.wait_for_payment(
            view.payment_id,
            lambda v: v.status in (plan.expected, PaymentStatus.FAILED, PaymentStatus.CANCELED),
            WAIT_FOR_PAYMENT,
        )
        progress.advance(task)
        return plan, view

    results = await asyncio.gather(*(one(i, plan) for i, plan in enumerate(PLANS)))
    for plan, view in results:
        outcome.payments.append((plan, view))
        if view.status != plan.expected:
            outcome.problems.append(
                f"{plan.label}: expected {plan.expected}, got {view.status} ({view.last_error})"
            )


async def _refund(client: object, outcome: DemoOutcome, progress: Progress) -> None:
    from paysaga.client.client import PaysagaClient

    assert isinstance(client, PaysagaClient)
    task = progress.add_task("a partial and a full refund", total=2)
    captured = [
        (i, p, v) for i, (p, v) in enumerate(outcome.payments) if v.status == PaymentStatus.CAPTURED
    ]
    if len(captured) < 2:
        outcome.problems.append("not enough captured payments to refund")
        return
    targets = [
        (captured[0], captured[0][2].captured_minor // 2),  # partial
        (captured[-1], captured[-1][2].captured_minor),
    ]  # full
    for (index, plan, view), amount in targets:
        await client.refund(view.payment_id, amount, request_id=f"demo-refund-{index}")
        progress.advance(task)
        refreshed = await client.get_payment(view.payment_id)
        outcome.payments[index] = (plan, refreshed)


async def _reconcile(
    settings: Settings, client: object, outcome: DemoOutcome, progress: Progress
) -> None:
    from paysaga.client.client import PaysagaClient

    assert isinstance(client, PaysagaClient)
    task = progress.add_task("settlement and reconciliation", total=2)
    async with httpx.AsyncClient(timeout=10) as http:
        for base in (settings.stripe_base(), settings.braintree_base()):
            if base.startswith("http://127.0.0.1"):
                response = await http.post(f"{base}/__sandbox/settle", json={})
                response.raise_for_status()
    progress.advance(task)
    started = await client.reconcile(datetime.now(UTC).date())
    report = await client.reconciliation_result(started.reconciliation_id)
    progress.advance(task)
    kinds = Counter(str(exc.kind) for exc in report.exceptions)
    outcome.reconciliation = (
        f"{report.status}: {report.matched_count} matched, "
        f"{len(report.exceptions)} exceptions"
        + (f" ({', '.join(f'{k}={n}' for k, n in sorted(kinds.items()))})" if kinds else "")
    )
    if report.exceptions:
        outcome.problems.append(f"reconciliation: {outcome.reconciliation}")


async def _check_ledger(settings: Settings, outcome: DemoOutcome) -> None:
    from activities import chart
    from ledger.errors import UnknownAccount
    from ledger.service import Ledger

    shards = range(len(settings.shard_urls()))
    # System accounts exist once per shard (payments post on their merchant's shard);
    # the summary shows each account summed over the shards an entry has touched.
    accounts: list[tuple[str, Callable[[int], str]]] = [
        ("gateway_receivable:stripe:USD", lambda n: chart.gateway_receivable("stripe", "USD", n)),
        (
            "gateway_receivable:braintree:USD",
            lambda n: chart.gateway_receivable("braintree", "USD", n),
        ),
        ("bank_cash:USD", lambda n: chart.bank_cash("USD", n)),
        ("gateway_fees:stripe:USD", lambda n: chart.gateway_fees("stripe", "USD", n)),
        ("gateway_fees:braintree:USD", lambda n: chart.gateway_fees("braintree", "USD", n)),
    ]
    async with Ledger(settings.shard_urls()) as ledger:
        for label, account_on in accounts:
            totals = [0, 0, 0]
            touched = False
            for shard in shards:
                try:
                    balances = await ledger.get_balances(account_on(shard))
                except UnknownAccount:  # no entry has touched it on this shard yet
                    continue
                touched = True
                totals = [
                    totals[0] + balances.posted,
                    totals[1] + balances.pending,
                    totals[2] + balances.available,
                ]
            if touched:
                outcome.balances.append((label, "USD", totals[0], totals[1], totals[2]))
        report = await ledger.verify()
    outcome.ledger_ok = report.ok
    outcome.ledger_message = "balanced on every shard" if report.ok else str(report.first)


def _print_summary(settings: Settings, outcome: DemoOutcome) -> None:
    ui = f"http://127.0.0.1:{settings.temporal_ui_port}/namespaces/{settings.temporal_namespace}"
    payments = Table(title="payments")
    for column in ("payment", "gateway", "amount", "captured", "refunded", "status"):
        payments.add_column(column)
    for plan, view in outcome.payments:
        payments.add_row(
            plan.label,
            view.gateway or plan.gateway,
            Money(view.amount_minor, view.currency).format(),
            str(view.captured_minor),
            str(view.refunded_minor),
            str(view.status),
        )
    console.print(payments)
    console.print("Web UI, one link per payment workflow:")
    for plan, view in outcome.payments:
        # Printed outside the table so a link is never wrapped or truncated.
        link = f"{ui}/workflows/{view.payment_id}"
        console.print(f"  {plan.label}: {link}", soft_wrap=True, highlight=False)

    by_status = Counter(str(view.status) for _, view in outcome.payments)
    status_table = Table(title="payments by status")
    status_table.add_column("status")
    status_table.add_column("count", justify="right")
    for status, count in sorted(by_status.items()):
        status_table.add_row(status, str(count))
    console.print(status_table)

    balances = Table(title="ledger balances (minor units)")
    for column in ("account", "currency", "posted", "pending", "available"):
        balances.add_column(column)
    for account_id, currency, posted, pending, available in outcome.balances:
        balances.add_row(account_id, currency, str(posted), str(pending), str(available))
    console.print(balances)

    console.print(f"onboarding: {outcome.onboarding}")
    console.print(f"reconciliation: {outcome.reconciliation}")
    colour = "green" if outcome.ledger_ok else "red"
    console.print(f"ledger verify: [{colour}]{outcome.ledger_message}[/]")
    for problem in outcome.problems:
        console.print(f"[red]problem:[/] {problem}")
    if outcome.ledger_ok and not outcome.problems:
        console.print("[bold green]demo completed: every payment as expected, ledger balanced[/]")
