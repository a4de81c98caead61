package browser

import (
	"context"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/chromedp"
)

// GrantPermission grants pages of origin (e.g. "http://127.0.0.1:1234") the
// permission name of the Permissions API ("clipboard-read",
// "clipboard-write", …), as a user accepting the browser's prompt would, so
// that a test can read what a page put on the clipboard.
func (p *Page) GrantPermission(origin, name string) {
	p.t.Helper()
	p.do("granting "+name+" to "+origin, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := cdp.Call(ctx, chromedp.FromContext(ctx).Browser, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
			Permission: &cdpbrowser.PermissionDescriptor{Name: name},
			Setting:    cdpbrowser.PermissionSettingGranted,
			Origin:     origin,
		})
		return err
	}))
}
