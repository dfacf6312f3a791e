// The register screen's state: search, the cart being rung up, payment, banners.
// It calls the core and words its answers with the Tillkit package; it never prices or taxes.
import Foundation
import Tillkit
import TillkitKit

@MainActor
final class RegisterModel: ObservableObject {
    enum Method { case cash, card }

    struct ProductRow: Identifiable {
        let id: String
        let name: String
        let detail: String
    }

    /// The open payment sheet: the method and what was typed (cash tendered or card reference).
    struct Payment {
        var method: Method
        var input: String
        var state: PaymentState
    }

    @Published var query = "" {
        didSet { search() }
    }
    @Published var barcode = ""
    @Published private(set) var results: [ProductRow] = []
    @Published private(set) var cart: CartDisplay = .empty
    @Published var payment: Payment?
    /// The last completed sale, or why the core refused the last action.
    @Published var banner: String?

    let store: TillkitStore
    private let money: MoneyFormat
    private var handle: CartHandle?
    private var totals: TotalsRecord?
    private var searchTask: Task<Void, Never>?
    // Cart calls run one after another, so a slow refresh never overwrites a newer one.
    private var cartTask: Task<Void, Never>?

    /// The offline limit near or reached, from the core's status (which limit, how close).
    var limitBanner: LimitBanner? {
        offlineLimitBanner(store.status.offlineLimits, money: money, currency: totals?.currency ?? "")
    }

    init(store: TillkitStore, money: MoneyFormat = MoneyFormat()) {
        self.store = store
        self.money = money
        // Opens the first cart, which tells the currency (or that the catalogue is not here yet).
        cartCall { _ in }
    }

    func barcodeEntered() {
        let code = barcode.trimmingCharacters(in: .whitespaces)
        guard !code.isEmpty else { return }
        barcode = ""
        cartCall { cart in _ = try await cart.addBarcode(code: code, quantity: "1") }
    }

    func add(productId: String) {
        cartCall { cart in _ = try await cart.addProduct(productId: productId, quantity: "1") }
    }

    func setQuantity(lineId: UInt64, quantity: String) {
        cartCall { cart in try cart.setQuantity(lineId: lineId, quantity: quantity) }
    }

    func remove(lineId: UInt64) {
        cartCall { cart in try cart.remove(lineId: lineId) }
    }

    func startPayment(_ method: Method) {
        guard totals != nil, !cart.isEmpty else { return }
        payment = Payment(method: method, input: "", state: evaluate(method, ""))
    }

    func paymentInputChanged(_ input: String) {
        guard let method = payment?.method else { return }
        payment = Payment(method: method, input: input, state: evaluate(method, input))
    }

    func charge() {
        guard let record = payment?.state.payment else { return }
        let previous = cartTask
        cartTask = Task {
            await previous?.value
            guard let current = handle,
                  let receipt = await attempt({ try await self.store.core.completeSale(cart: current, payments: [record]) })
            else { return }
            // The sale is durable; the next customer gets a new cart.
            handle = nil
            payment = nil
            banner = completedSaleBanner(receipt, money: money)
            _ = await currentCart()
        }
    }

    private func search() {
        searchTask?.cancel()
        let text = query
        guard !text.trimmingCharacters(in: .whitespaces).isEmpty else {
            results = []
            return
        }
        searchTask = Task {
            try? await Task.sleep(nanoseconds: 150_000_000)  // wait for the last keystroke
            guard !Task.isCancelled, let products = await attempt({ try await self.store.core.search(query: text) }) else { return }
            results = products.map { self.row($0) }
        }
    }

    private func evaluate(_ method: Method, _ input: String) -> PaymentState {
        guard let totals else { return .blocked("The total is not known yet") }
        switch method {
        case .cash: return cashPayment(total: totals.cashDue, currency: totals.currency, tendered: input, money: money)
        case .card: return cardPayment(total: totals.total, reference: input)
        }
    }

    private func cartCall(_ call: @escaping (CartHandle) async throws -> Void) {
        let previous = cartTask
        cartTask = Task {
            await previous?.value
            guard let current = await currentCart(),
                  await attempt({ try await call(current) }) != nil
            else { return }
            await refresh(current)
        }
    }

    private func currentCart() async -> CartHandle? {
        if let handle { return handle }
        guard let opened = await attempt({ try await self.store.core.newCart() }) else { return nil }
        handle = opened
        await refresh(opened)
        return opened
    }

    private func refresh(_ current: CartHandle) async {
        // In memory, no disk: the cart's own calls return at once.
        let read = await attempt { () -> ([CartLineRecord], TotalsRecord) in
            let totals = try current.totals()
            return (current.lines(), totals)
        }
        guard let read else { return }
        let (lines, totals) = read
        self.totals = totals
        cart = CartDisplay(lines: lines, totals: totals, money: money)
    }

    private func row(_ product: ProductRecord) -> ProductRow {
        let price = totals.map { money.format(product.price, currency: $0.currency) } ?? product.price
        return ProductRow(id: product.id, name: product.name, detail: "\(product.sku) · \(price)")
    }

    /// Runs a core call; a refusal becomes the banner and nil.
    private func attempt<T>(_ call: () async throws -> T) async -> T? {
        do {
            return try await call()
        } catch let error as TillkitError {
            banner = error.cashierMessage(money: money, currency: totals?.currency)
        } catch {
            banner = error.localizedDescription
        }
        return nil
    }
}
