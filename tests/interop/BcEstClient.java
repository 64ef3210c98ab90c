/*
 * BcEstClient: an EST client built on Bouncy Castle's org.bouncycastle.est
 * (Debian's libbcpkix-java), used by tests/interop/bc_client.sh to show that
 * estrad serves that client as it ships. It does what a Java device or
 * management tool does with the library: JsseESTServiceBuilder with a trust
 * anchor, one TLS version, HttpAuth for Digest and Basic, a key manager for
 * the client certificate. Nothing here works around a server quirk: when
 * estrad answers in a way BC cannot read, an operation fails.
 *
 * Usage: java BcEstClient TLSVERSION OUTDIR
 * Environment (the lab's lab.env): EST_URL, TRUST, AUTH_REALM, EST_USER,
 * EST_PASS, BASIC_USER, BASIC_PASS, CLIENT_CERT, CLIENT_KEY.
 *
 * Each operation prints one line, "ok OP detail" or "FAIL OP: exception",
 * and writes what it got to OUTDIR (cacerts[-LABEL].pem,
 * csrattrs[-LABEL].der, OP.cert.pem with OP.csr.pub.pem, the CSR key's
 * public half); the script checks those with the openssl CLI. Exit status
 * 1 if any operation failed.
 */

import java.io.FileInputStream;
import java.io.FileReader;
import java.io.FileWriter;
import java.io.InputStream;
import java.io.Writer;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.Security;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.cert.TrustAnchor;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.util.Collection;
import java.util.HashSet;
import java.util.Set;

import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLSession;

import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.cert.X509CertificateHolder;
import org.bouncycastle.est.CACertsResponse;
import org.bouncycastle.est.CSRRequestResponse;
import org.bouncycastle.est.ESTAuth;
import org.bouncycastle.est.ESTException;
import org.bouncycastle.est.ESTService;
import org.bouncycastle.est.EnrollmentResponse;
import org.bouncycastle.est.HttpAuth;
import org.bouncycastle.est.jcajce.JcaHttpAuthBuilder;
import org.bouncycastle.est.jcajce.JcaJceUtils;
import org.bouncycastle.est.jcajce.JsseESTServiceBuilder;
import org.bouncycastle.jce.provider.BouncyCastleProvider;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.bouncycastle.pkcs.PKCS10CertificationRequest;
import org.bouncycastle.pkcs.jcajce.JcaPKCS10CertificationRequestBuilder;

public final class BcEstClient {
	private final String tls;
	private final String out;
	private final String server;	/* host:port of EST_URL */
	private final X509Certificate[] chain;	/* the client's, leaf first */
	private final PrivateKey key;
	private int failures;

	private BcEstClient(String tls, String out) throws Exception {
		this.tls = tls;
		this.out = out;
		URI u = new URI(env("EST_URL"));
		server = u.getHost() + ":" + u.getPort();
		chain = certs(env("CLIENT_CERT")).toArray(new X509Certificate[0]);
		try (PEMParser p = new PEMParser(new FileReader(env("CLIENT_KEY")))) {
			key = new JcaPEMKeyConverter().getPrivateKey(
			    (PrivateKeyInfo) p.readObject());
		}
	}

	private static String env(String name) {
		String v = System.getenv(name);
		if (v == null || v.isEmpty())
			throw new IllegalStateException(name + " is not set");
		return v;
	}

	private static Collection<X509Certificate> certs(String file) throws Exception {
		try (InputStream in = new FileInputStream(file)) {
			@SuppressWarnings("unchecked")
			Collection<X509Certificate> c = (Collection<X509Certificate>)
			    CertificateFactory.getInstance("X.509").generateCertificates(in);
			return c;
		}
	}

	/* An ESTService for LABEL (null: the bare path), trusting only the
	 * lab root, on this run's TLS version; with the client certificate
	 * when WITHCERT. */
	private ESTService service(String label, boolean withCert) throws Exception {
		Set<TrustAnchor> anchors = new HashSet<>();
		for (X509Certificate c : certs(env("TRUST")))
			anchors.add(new TrustAnchor(c, null));
		JsseESTServiceBuilder b = new JsseESTServiceBuilder(server,
		    JcaJceUtils.getCertPathTrustManager(anchors, null));
		b.withTLSVersion(tls);
		b.withTimeout(15000);
		if (withCert) {
			KeyStore ks = KeyStore.getInstance("PKCS12");
			ks.load(null, null);
			ks.setKeyEntry("client", key, new char[0], chain);
			KeyManagerFactory kmf = KeyManagerFactory.getInstance(
			    KeyManagerFactory.getDefaultAlgorithm());
			kmf.init(ks, new char[0]);
			b.withKeyManagers(kmf.getKeyManagers());
		}
		if (label != null)
			b.withLabel(label);
		return b.build();
	}

	private void ok(String op, String detail) {
		System.out.println("ok " + op + " " + detail);
	}

	private void failed(String op, Throwable e) {
		failures++;
		System.out.println("FAIL " + op + ": " + e);
		for (Throwable c = e.getCause(); c != null; c = c.getCause())
			System.out.println("  caused by: " + c);
	}

	private void writePem(String name, Object... objs) throws Exception {
		try (Writer w = new FileWriter(Paths.get(out, name).toString());
		    JcaPEMWriter pw = new JcaPEMWriter(w)) {
			for (Object o : objs)
				pw.writeObject(o);
		}
	}

	private void cacerts(String label) {
		String op = "cacerts" + (label == null ? "" : "-" + label);
		try {
			CACertsResponse r = service(label, false).getCACerts();
			X509CertificateHolder[] c = ESTService.storeToArray(
			    r.getCertificateStore());
			writePem(op + ".pem", (Object[]) c);
			/* The version this run asked for is the one spoken. */
			Object session = r.getSession();
			String proto = session instanceof SSLSession ?
			    ((SSLSession) session).getProtocol() : "unknown";
			ok(op, c.length + " certificates over " + proto);
		} catch (Throwable e) {
			failed(op, e);
		}
	}

	private void csrattrs(String label) {
		String op = "csrattrs" + (label == null ? "" : "-" + label);
		try {
			CSRRequestResponse r = service(label, false).getCSRAttributes();
			if (!r.hasAttributesResponse()) {
				ok(op, "none");
				return;
			}
			byte[] der = r.getAttributesResponse().getEncoded();
			Files.write(Paths.get(out, op + ".der"), der);
			ok(op, r.getAttributesResponse().getRequirements().size()
			    + " requirements");
		} catch (Throwable e) {
			failed(op, e);
		}
	}

	private org.bouncycastle.util.Store<X509CertificateHolder> lastStore;

	/* One enrollment of a fresh P-256 key; its certificates in lastStore. */
	private KeyPair enrollOnce(String label, boolean reenroll, String subject,
	    ESTAuth auth, boolean withCert) throws Exception {
		KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
		g.initialize(new ECGenParameterSpec("secp256r1"));
		KeyPair kp = g.generateKeyPair();
		PKCS10CertificationRequest csr =
		    new JcaPKCS10CertificationRequestBuilder(
			new X500Name(subject), kp.getPublic())
			.build(new JcaContentSignerBuilder("SHA256withECDSA")
			    .build(kp.getPrivate()));
		EnrollmentResponse r = service(label, withCert)
		    .simpleEnroll(reenroll, csr, auth);
		if (!r.isCompleted())
			throw new IllegalStateException("not completed: retry after "
			    + r.getNotBefore());
		lastStore = r.getStore();
		return kp;
	}

	/* OP: simpleenroll (or simplereenroll when REENROLL) of a fresh P-256
	 * key under SUBJECT, at LABEL, authenticated by AUTH and/or the client
	 * certificate. */
	private void enroll(String op, String label, boolean reenroll,
	    String subject, ESTAuth auth, boolean withCert) {
		try {
			KeyPair kp = enrollOnce(label, reenroll, subject, auth,
			    withCert);
			X509CertificateHolder[] c = ESTService.storeToArray(
			    lastStore);
			writePem(op + ".cert.pem", (Object[]) c);
			writePem(op + ".csr.pub.pem", kp.getPublic());
			ok(op, c.length + " certificates, " + c[0].getSubject());
		} catch (Throwable e) {
			failed(op, e);
		}
	}

	/* OP with a wrong password: BC must see estrad's 401 as a 401 (an
	 * unreadable 401 body would surface as a stream error instead). */
	private void refused(String op, String label, ESTAuth auth) {
		try {
			enrollOnce(label, false, "CN=bc-refused", auth, false);
			failures++;
			System.out.println("FAIL " + op + ": enrolled with a wrong password");
		} catch (ESTException e) {
			if (e.getStatusCode() == 401)
				ok(op, "401");
			else
				failed(op, e);
		} catch (Throwable e) {
			failed(op, e);
		}
	}

	private void run() throws Exception {
		String realm = env("AUTH_REALM");
		cacerts(null);
		cacerts("local");
		csrattrs(null);
		csrattrs("strict");
		enroll("simpleenroll-digest", null, false, "CN=bc-digest",
		    new JcaHttpAuthBuilder(realm, env("EST_USER"),
			env("EST_PASS").toCharArray()).build(), false);
		enroll("simpleenroll-local", "local", false, "CN=bc-local",
		    new JcaHttpAuthBuilder(realm, env("EST_USER"),
			env("EST_PASS").toCharArray()).build(), false);
		enroll("simpleenroll-basic", "basic", false, "CN=bc-basic",
		    new HttpAuth(realm, env("BASIC_USER"),
			env("BASIC_PASS").toCharArray()), false);
		enroll("simplereenroll-cert", null, true, "CN=lab-client",
		    null, true);
		refused("simpleenroll-digest-wrong", null,
		    new JcaHttpAuthBuilder(realm, env("EST_USER"),
			"wrong-password".toCharArray()).build());
		refused("simpleenroll-basic-wrong", "basic",
		    new HttpAuth(realm, env("BASIC_USER"),
			"wrong-password".toCharArray()));
	}

	public static void main(String[] args) throws Exception {
		if (args.length != 2) {
			System.err.println("usage: BcEstClient TLSVERSION OUTDIR");
			System.exit(2);
		}
		/* JcaJceUtils' trust manager and JcaHttpAuthBuilder ask for the
		 * "BC" provider, as BC's own EST examples set it up. */
		Security.addProvider(new BouncyCastleProvider());
		BcEstClient c = new BcEstClient(args[0], args[1]);
		c.run();
		System.exit(c.failures == 0 ? 0 : 1);
	}
}
